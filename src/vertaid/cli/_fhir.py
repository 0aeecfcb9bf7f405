"""``vertaid assess --fhir``: the options that only a FHIR input has."""

from __future__ import annotations

import sys
from datetime import date, datetime
from typing import NoReturn

import typer

__all__ = ["reference_date"]

_INVALID_INPUT = 2


def reference_date(text: str | None, fhir: bool) -> date | datetime | None:
    """The ``--as-of`` date (ISO 8601: a date, or a time with its zone); exit 2 with a reason otherwise."""
    if text is None:
        return None
    if not fhir:
        _refuse("--as-of is only for a FHIR input (--fhir)")
    try:
        if "T" not in text and len(text) == 10:
            return date.fromisoformat(text)
        when = datetime.fromisoformat(text)
    except ValueError:
        _refuse(
            f"--as-of {text!r} is not a date (2025-06-02) or a time with its zone (2025-06-02T09:00+00:00)"
        )
    if when.tzinfo is None or when.utcoffset() is None:
        _refuse(f"--as-of {text!r} needs its time zone (e.g. +00:00)")
    return when


def _refuse(reason: str) -> NoReturn:
    sys.stderr.write(f"vertaid assess: {reason}\n")
    raise typer.Exit(_INVALID_INPUT)
