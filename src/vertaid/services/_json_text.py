"""Reading one JSON document from bytes, refusing what is not a sensible case text.

Too large, empty, binary, not JSON, nested too deeply, a member named twice in one object or a number
of thousands of digits: each is a one-line reason, never a crash. The command line (a case file) and
cohorts (a line of JSON Lines) give the same reasons.
"""

from __future__ import annotations

import json
from typing import Final

from vertaid.domain._shapes import describe

__all__ = ["MAX_BYTES", "MAX_DEPTH", "UnreadableInput", "parse_json_text"]

MAX_BYTES: Final = 1024 * 1024
"""Inputs larger than 1 MiB are refused (CONTRACT §4)."""

MAX_DEPTH: Final = 32
"""A case nests four levels deep; anything far deeper is not a case and is refused before it is walked."""


class UnreadableInput(ValueError):
    """The input cannot be read as a JSON document; the message is one line naming the reason."""


def _reject_constant(name: str) -> object:
    raise UnreadableInput(f"is not JSON: {name} is not a JSON number")


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object, refused when it names one member twice: readers disagree on which of the two
    counts (the first, the last, an error), so such a text could mean one case to a proxy or an EHR
    and another to vertaid."""
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        repeated = ""
        for key, _ in pairs:
            if key in seen:
                repeated = key
                break
            seen.add(key)
        raise UnreadableInput(f"names the member {describe(repeated)} twice in one object")
    return members


def _depth(document: object) -> int:
    if not isinstance(document, dict | list):
        return 0
    deepest = 0
    stack: list[tuple[dict[str, object] | list[object], int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            return depth
        members = value.values() if isinstance(value, dict) else value
        # Only lists and objects go on the stack: a megabyte of numbers costs one pass, not a push each.
        stack.extend((member, depth + 1) for member in members if isinstance(member, dict | list))
    return deepest


def parse_json_text(raw: bytes) -> object:
    """Parse one JSON document from ``raw``.

    Raises:
        UnreadableInput: with a one-line reason (the caller names the source).
    """
    if len(raw) > MAX_BYTES:
        raise UnreadableInput("is larger than 1 MiB; a case is a few kilobytes")
    if not raw.strip():
        raise UnreadableInput("is empty")
    if b"\x00" in raw:
        raise UnreadableInput("is binary, not a JSON text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableInput("is not UTF-8 text") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_object)
    except json.JSONDecodeError as error:
        raise UnreadableInput(
            f"is not JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    except UnreadableInput:  # a member named twice, NaN or Infinity
        raise
    except ValueError:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise UnreadableInput("is not JSON a case can hold: a number has thousands of digits") from None
    except RecursionError:
        raise UnreadableInput(f"is nested too deeply (more than {MAX_DEPTH} levels)") from None
    if _depth(document) > MAX_DEPTH:
        raise UnreadableInput(f"is nested too deeply (more than {MAX_DEPTH} levels)")
    return document
