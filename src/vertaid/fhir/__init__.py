"""FHIR R4 in and out: a patient's record as a ``vertaid.case/1``, and a case as a Bundle.

    >>> from vertaid.fhir import assess_fhir
    >>> assessment = assess_fhir(bundle)            # a FHIR R4 Bundle (or CDS Hooks prefetch), parsed

The mapping, member by member, is ``docs/fhir-mapping.md`` (made from :mod:`vertaid.fhir._terms`).
The FHIR models (``fhir.resources``) are imported only when a Bundle is read.
"""

from __future__ import annotations

from vertaid.fhir._api import assess_fhir, case_from_fhir
from vertaid.fhir._common import FhirCase, InvalidBundle
from vertaid.fhir._terms import VERTAID
from vertaid.fhir._write import case_to_bundle

__all__ = ["VERTAID", "FhirCase", "InvalidBundle", "assess_fhir", "case_from_fhir", "case_to_bundle"]
