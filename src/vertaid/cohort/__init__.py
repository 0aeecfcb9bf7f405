"""Cohorts: the policy over many cases at once (CONTRACT §6).

``assess_cohort`` streams a file of cases (JSON Lines, or CSV or Parquet in the flat layout) through the
columnar engine into Parquet, with rejected lines in a side file (``vertaid cohort``)::

    summary = assess_cohort(Path("cases.jsonl"), Path("results.parquet"), default_pack())
    summary.assessed, summary.rejected, summary.decisions

``assess_with_spark`` does the same for JSON Lines on a Spark cluster (``--engine spark``, an optional
extra: ``pip install 'vertaid[spark]'``; PySpark is imported only when it runs).

``synthesise_cases`` and ``write_cases`` make synthetic ``vertaid.case/1`` cases (``vertaid synth``), drawn
from the illustrative distributions in ``synth_profile.yaml``: for demos, tests and benchmarks, not
epidemiology.
"""

from vertaid.cohort._batch import assess_cases, assess_lines, output_schema
from vertaid.cohort._flat import FLAT_COLUMNS
from vertaid.cohort._run import CohortInputError, CohortSummary, assess_cohort, input_format
from vertaid.cohort._spark import SparkCohortSummary, SparkUnavailableError, assess_with_spark
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
    "FLAT_COLUMNS",
    "INVALID_KINDS",
    "PROFILE_FILE",
    "CohortInputError",
    "CohortSummary",
    "ProfileError",
    "SparkCohortSummary",
    "SparkUnavailableError",
    "assess_cases",
    "assess_cohort",
    "assess_lines",
    "assess_with_spark",
    "input_format",
    "invalid_line_count",
    "output_schema",
    "synthesise_cases",
    "synthesise_jsonl",
    "write_cases",
]
