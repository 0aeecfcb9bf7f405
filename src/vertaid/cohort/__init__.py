"""Cohorts: the policy over many cases at once (CONTRACT §6).

>>> from vertaid.cohort import assess_cohort
>>> summary = assess_cohort(Path("cases.jsonl"), Path("results.parquet"), default_pack())
>>> summary.assessed, summary.rejected, summary.decisions
"""

from vertaid.cohort._batch import assess_cases, assess_lines, output_schema
from vertaid.cohort._flat import FLAT_COLUMNS
from vertaid.cohort._run import CohortInputError, CohortSummary, assess_cohort, input_format

__all__ = [
    "FLAT_COLUMNS",
    "CohortInputError",
    "CohortSummary",
    "assess_cases",
    "assess_cohort",
    "assess_lines",
    "input_format",
    "output_schema",
]
