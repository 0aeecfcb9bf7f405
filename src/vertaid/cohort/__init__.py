"""Cohorts: many cases at once.

``synthesise_cases`` and ``write_cases`` make synthetic ``vertaid.case/1`` cases (``vertaid synth``), drawn
from the illustrative distributions in ``synth_profile.yaml``: for demos, tests and benchmarks, not
epidemiology. They need NumPy (the ``cohort`` extra).
"""

from vertaid.cohort._synth import (
    INVALID_KINDS,
    PROFILE_FILE,
    ProfileError,
    invalid_line_count,
    synthesise_cases,
    synthesise_jsonl,
    write_cases,
)

__all__ = [
    "INVALID_KINDS",
    "PROFILE_FILE",
    "ProfileError",
    "invalid_line_count",
    "synthesise_cases",
    "synthesise_jsonl",
    "write_cases",
]
