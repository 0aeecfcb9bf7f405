"""``vertaid cohort``: the policy over a whole file of cases (CONTRACT §6).

Polars and the cohort engine are imported only when the command runs, so the other commands start fast.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from vertaid.cohort import CohortSummary

__all__ = ["Engine", "cohort"]


class Engine(StrEnum):
    """Which engine runs the cohort."""

    polars = "polars"
    spark = "spark"


def cohort(
    input_file: Annotated[
        str, typer.Argument(metavar="INPUT", help="JSON Lines (.jsonl), CSV or Parquet in the flat layout.")
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", metavar="OUTPUT.parquet", help="Results, as Parquet.")
    ],
    engine: Annotated[
        Engine, typer.Option(help="polars on this machine; spark on local[*] or a cluster.")
    ] = (Engine.polars),
    explain: Annotated[bool, typer.Option("--explain", help="Add the ids of the rules that fired.")] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Where rejected lines go (default: OUTPUT.rejects.jsonl)."),
    ] = None,
    summary_json: Annotated[
        Path | None, typer.Option("--summary-json", metavar="FILE", help="Also write the summary as JSON.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Cases per batch (default 50,000).")] = None,
    spark_master: Annotated[
        str | None, typer.Option("--spark-master", metavar="URL", help="Spark master (default local[*]).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no table.")] = False,
) -> None:
    """Assess every case of a file: decisions, strength, score, target levels, Medicare coverage.

    Invalid lines are skipped and listed with their line number and reasons in the rejects file; the
    run says how many were assessed and how many rejected.
    """
    from rich.console import Console

    from vertaid.cli._output import UnwritableOutput, check_writable

    errors = Console(stderr=True, highlight=False)
    # Spark writes directories, local or remote (s3a://...), and checks them itself.
    local_outputs = (output, rejects) if engine is Engine.polars else ()
    for target in (*local_outputs, summary_json):
        if target is None:
            continue
        try:
            check_writable(str(target))
        except UnwritableOutput as error:
            errors.print(f"vertaid: cannot write {target}: {error}", markup=False)
            raise typer.Exit(2) from None
    summary = _run(input_file, output, engine, explain, rejects, batch_size, spark_master, quiet, errors)
    if not quiet:
        _print_summary(summary, Console(highlight=False))
    if summary_json is not None:
        summary_json.write_text(json.dumps(summary.as_json(), indent=2) + "\n", encoding="utf-8")


def _run(
    input_file: str,
    output: str,
    engine: Engine,
    explain: bool,
    rejects: Path | None,
    batch_size: int | None,
    spark_master: str | None,
    quiet: bool,
    errors: Console,
) -> CohortSummary:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from vertaid.cohort import CohortInputError, assess_cohort
    from vertaid.knowledge import default_pack

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.completed:,.0f} cases"),
        TextColumn("{task.fields[rate]:,.0f} cases/s"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=quiet or not sys.stderr.isatty(),
    )
    try:
        with progress:
            task = progress.add_task("cohort", total=None, rate=0.0)

            def on_batch(running: CohortSummary) -> None:
                progress.update(
                    task, completed=running.assessed + running.rejected, rate=running.cases_per_second
                )

            if engine is Engine.spark:
                from vertaid.cohort import assess_with_spark

                # Spark reads and writes URIs (s3a://...) too: the paths stay as given.
                summary: CohortSummary = assess_with_spark(
                    input_file,
                    output,
                    default_pack(),
                    rejects_path=rejects,
                    explain=explain,
                    master=spark_master,
                    batch_size=batch_size,
                )
            else:
                summary = assess_cohort(
                    Path(input_file),
                    Path(output),
                    default_pack(),
                    rejects_path=rejects,
                    explain=explain,
                    on_batch=on_batch,
                    **({} if batch_size is None else {"batch_size": batch_size}),
                )
    except CohortInputError as error:
        errors.print(f"vertaid: {error}", markup=False)
        raise typer.Exit(2) from None
    return summary


def _print_summary(summary: CohortSummary, console: Console) -> None:
    from rich.table import Table

    total = summary.assessed + summary.rejected
    table = Table(title=f"{summary.input}: {total:,} cases", title_justify="left")
    table.add_column("")
    table.add_column("cases", justify="right")
    table.add_column("share", justify="right")

    def share(count: int, of: int) -> str:
        return f"{100 * count / of:.1f}%" if of else "-"

    for decision, count in sorted(summary.decisions.items(), key=lambda item: -item[1]):
        table.add_row(decision, f"{count:,}", share(count, summary.assessed))
    table.add_section()
    table.add_row(
        "Medicare LCD criteria met",
        f"{summary.coverage_met:,}",
        share(summary.coverage_met, summary.assessed),
    )
    table.add_row("assessed", f"{summary.assessed:,}", share(summary.assessed, total))
    table.add_row("rejected", f"{summary.rejected:,}", share(summary.rejected, total))
    console.print(table)
    console.print(
        f"{summary.assessed:,} assessed, {summary.rejected:,} rejected in {summary.seconds:.1f} s "
        f"({summary.cases_per_second:,.0f} cases/s). Results: {summary.output}"
        + (f"; rejected lines: {summary.rejects}" if summary.rejected else ""),
        markup=False,
    )
