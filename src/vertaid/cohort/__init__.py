"""Cohorts: the policy over many cases at once (CONTRACT §6)."""

from vertaid.cohort._batch import assess_lines, output_schema

__all__ = ["assess_lines", "output_schema"]
