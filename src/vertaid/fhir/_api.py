"""The two doors of FHIR input: read a Bundle into a case, and assess it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from vertaid.domain.case import InvalidCase
from vertaid.domain.pack import KnowledgePack
from vertaid.fhir._common import FhirCase, InvalidBundle

__all__ = ["assess_fhir", "case_from_fhir"]


def case_from_fhir(document: object, as_of: date | datetime | None = None) -> FhirCase:
    """Read a FHIR R4 Bundle, or a CDS Hooks prefetch object, into a case (not yet validated).

    Args:
        document: the parsed JSON.
        as_of: the reference date ages and weeks count back from; by default the Bundle's timestamp
            (or ``meta.lastUpdated``). A prefetch object has neither, so it needs ``as_of``.

    Raises:
        InvalidBundle: naming each resource and element that cannot be read or contradicts another.
    """
    from vertaid.fhir._read import read_case

    return read_case(document, as_of)


def assess_fhir(
    document: object, as_of: date | datetime | None = None, pack: KnowledgePack | None = None
) -> dict[str, Any]:
    """Assess the case a FHIR R4 Bundle (or CDS Hooks prefetch) holds: ``vertaid.assessment/1``.

    What the input lacks is missing from the case, and the assessment lists it as missing as it would
    an absent member.

    Raises:
        InvalidBundle: when the input cannot be read, or the case it holds is not valid (each problem
            then names the resource and element the value came from).
    """
    from vertaid.services.assessment import assess

    read = case_from_fhir(document, as_of)
    try:
        return assess(read.case, pack)
    except InvalidCase as error:
        raise InvalidBundle(read.explain(error.problems)) from None
