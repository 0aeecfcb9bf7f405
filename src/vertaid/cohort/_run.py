"""A cohort run: cases streamed in batches from a file, results to Parquet, rejects to a side file.

Input is read in batches — JSON Lines as chunks of whole lines straight from the file, CSV by Polars,
Parquet by PyArrow — so memory stays flat however long the file is; two batches are assessed at once
(Arrow's reader, Polars and NumPy release the interpreter while they work), and results are written in
line order. Both files are written beside their targets and renamed into place at the end, so a failed run
leaves no half-written output.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final, Literal

import polars as pl
import pyarrow.parquet as pq

from vertaid.cohort._batch import assess_cases, assess_lines, assess_text, output_schema
from vertaid.cohort._flat import FlatLayoutError, csv_batches, parquet_batches
from vertaid.cohort._json_lines import file_chunks
from vertaid.domain.pack import KnowledgePack
from vertaid.services._replacing import replacing

__all__ = ["CohortInputError", "CohortSummary", "InputFormat", "assess_cohort", "input_format"]

InputFormat = Literal["jsonl", "csv", "parquet"]

DEFAULT_BATCH: Final = 50_000
_WORKERS: Final = 2
_PARQUET_OPTIONS: Final[dict[str, Any]] = {
    # Zstandard at level 1 makes the results about half the size Snappy (the default) does, for about
    # the same CPU time (bench/cohort.py's write figures); the case ids and line numbers are all
    # different, so a dictionary of them is built only to be dropped: only the few decisions, strengths
    # and levels get one.
    "compression": "zstd",
    "compression_level": 1,
    "use_dictionary": ["decision", "strength", "target_levels.list.element", "rules_fired.list.element"],
}


class CohortInputError(ValueError):
    """The input file cannot be read as a cohort; the message is one line naming the reason."""


@dataclass
class CohortSummary:
    """What a run did: how many cases were assessed and rejected, and what was decided."""

    input: str
    output: str
    rejects: str
    engine: str
    assessed: int = 0
    rejected: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    coverage_met: int = 0
    seconds: float = 0.0

    @property
    def cases_per_second(self) -> float:
        """Lines handled (assessed or rejected) per second of the run."""
        total = self.assessed + self.rejected
        return total / self.seconds if self.seconds > 0 else 0.0

    def add(self, rows: pl.DataFrame) -> None:
        """Count a batch of output rows."""
        rejected = int(rows.get_column("rejected").is_not_null().sum())
        self.assessed += rows.height - rejected
        self.rejected += rejected
        # A rejected row has no decision and no coverage: nulls, which neither count nor sum counts.
        for decision, count in rows.get_column("decision").drop_nulls().value_counts().iter_rows():
            self.decisions[decision] += count
        self.coverage_met += int(rows.get_column("lcd_coverage_met").sum())

    def as_json(self) -> dict[str, Any]:
        """The summary for machines (``--summary-json``)."""
        return {
            "input": self.input,
            "output": self.output,
            "rejects": self.rejects,
            "engine": self.engine,
            "assessed": self.assessed,
            "rejected": self.rejected,
            "decisions": dict(sorted(self.decisions.items())),
            "lcd_coverage_met": self.coverage_met,
            "seconds": round(self.seconds, 3),
            "cases_per_second": round(self.cases_per_second),
        }


def input_format(path: Path) -> InputFormat:
    """Tell the input's format from its name: ``.jsonl``/``.ndjson``/``.json``, ``.csv`` or ``.parquet``."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise CohortInputError(f"{path.name}: unknown input format {suffix!r} (use .jsonl, .csv or .parquet)")


def _jobs(
    path: Path, fmt: InputFormat, batch_size: int, pack: KnowledgePack, explain: bool
) -> Iterator[Callable[[], pl.DataFrame]]:
    """The batches of the input, each as the call that assesses it."""
    if not path.is_file():
        raise CohortInputError(f"{path}: no such file")
    if fmt == "jsonl":
        for chunk in file_chunks(path, batch_size):
            yield partial(assess_text, chunk, pack, explain=explain)
    elif fmt == "csv":
        for lines in csv_batches(path, batch_size):
            yield partial(assess_lines, lines, pack, explain=explain)
    else:
        for cases in parquet_batches(path, batch_size):
            yield partial(assess_cases, cases, pack, explain=explain)


def assess_cohort(
    input_path: Path,
    output_path: Path,
    pack: KnowledgePack,
    *,
    rejects_path: Path | None = None,
    explain: bool = False,
    batch_size: int = DEFAULT_BATCH,
    on_batch: Callable[[CohortSummary], None] | None = None,
) -> CohortSummary:
    """Assess every case of ``input_path`` into ``output_path`` (Parquet) with the Polars engine.

    Rejected lines go to ``rejects_path`` (JSON Lines: line number, case id, reasons), by default
    ``OUTPUT.rejects.jsonl``. ``on_batch`` is told the running summary after each batch (progress).

    Raises:
        CohortInputError: the input cannot be read (the message names the reason).
    """
    fmt = input_format(input_path)
    rejects_path = rejects_path or output_path.with_name(output_path.name + ".rejects.jsonl")
    summary = CohortSummary(str(input_path), str(output_path), str(rejects_path), "polars")
    schema = output_schema(explain)
    results_schema = pl.DataFrame(schema=schema).drop("rejected").to_arrow().schema
    started = time.perf_counter()
    with (
        replacing(output_path) as parquet_temp,
        replacing(rejects_path) as rejects_temp,
        pq.ParquetWriter(parquet_temp, results_schema, **_PARQUET_OPTIONS) as writer,
        open(rejects_temp, "w", encoding="utf-8") as rejects,
        ThreadPoolExecutor(max_workers=_WORKERS) as workers,
    ):
        pending: list[Future[pl.DataFrame]] = []

        def drain(keep: int) -> None:
            while len(pending) > keep:
                rows = pending.pop(0).result()
                _write(rows, writer, rejects)
                summary.add(rows)
                summary.seconds = time.perf_counter() - started
                if on_batch is not None:
                    on_batch(summary)

        try:
            for job in _jobs(input_path, fmt, batch_size, pack, explain):
                pending.append(workers.submit(job))
                drain(keep=_WORKERS)
            drain(keep=0)
        except FlatLayoutError as error:
            raise CohortInputError(str(error)) from None
        except pl.exceptions.PolarsError as error:
            raise CohortInputError(
                f"{input_path.name}: cannot be read ({str(error).splitlines()[0]})"
            ) from None
    summary.seconds = time.perf_counter() - started
    return summary


def _write(rows: pl.DataFrame, writer: pq.ParquetWriter, rejects: Any) -> None:
    rejected = rows.get_column("rejected").is_not_null()
    assessed = rows.filter(~rejected) if rejected.any() else rows  # a filter copies every column
    if assessed.height:
        writer.write_table(assessed.drop("rejected").to_arrow())
    if assessed.height == rows.height:
        return
    for line_number, case_id, reasons in (
        rows.filter(rejected).select("line_number", "case_id", "rejected").iter_rows()
    ):
        record = {"line_number": line_number, "case_id": case_id, "reasons": reasons}
        rejects.write(json.dumps(record, ensure_ascii=False) + "\n")
