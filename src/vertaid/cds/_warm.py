"""Readying a server process for CDS Hooks calls: the FHIR models loaded, and the long-lived objects kept
out of the garbage collector's full passes.

Reading a prefetch makes and drops thousands of small objects, which sets off collections; a full
collection walks every object the process holds, and the FHIR models and their validators are most of
them (in a loop of reads, the slowest went from about 20 ms to 100 ms and more). Freezing what exists
once the models are loaded (``gc.freeze``) leaves those objects out of every later pass, and loading
them first spares the first call about 0.2 s. Called by ``vertaid serve`` just
before it starts serving, never on import.
"""

from __future__ import annotations

import gc
from typing import Final

__all__ = ["warm_up"]

_KINDS: Final = (
    "Bundle",
    "Patient",
    "Encounter",
    "Condition",
    "Observation",
    "AllergyIntolerance",
    "MedicationStatement",
    "MedicationRequest",
    "Medication",
    "Procedure",
    "ServiceRequest",
    "Coverage",
    "OperationOutcome",
)
"""The FHIR resource types a prefetch holds (and a Medication a statement may refer to)."""


def warm_up() -> None:
    """Load the FHIR models a prefetch needs, then freeze every object made so far out of the garbage
    collector's passes (the first call then costs no more than the others)."""
    from fhir.resources.R4B import get_fhir_model_class

    for kind in _KINDS:
        get_fhir_model_class(kind)
    gc.collect()
    gc.freeze()
