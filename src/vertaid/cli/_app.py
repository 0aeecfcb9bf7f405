"""The ``vertaid`` command line (Typer)."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated

import typer

from vertaid.cli._cohort import cohort
from vertaid.cli._retention import export, purge
from vertaid.cli._store import audit_app, keys_app
from vertaid.cli._web import demo, serve

__all__ = ["app"]

app = typer.Typer(
    name="vertaid",
    help="Decision support for vertebral compression fractures: kyphoplasty, vertebroplasty, or neither yet.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_INTERNAL_ERROR = 1
EXIT_INVALID_INPUT = 2


class OutputFormat(StrEnum):
    """How ``assess`` prints the assessment."""

    text = "text"
    json = "json"


def _fail(lines: list[str], code: int) -> None:
    for line in lines:
        sys.stderr.write(line + "\n")
    raise typer.Exit(code)


@contextmanager
def _exit_codes_for_failures(case_file: str, output: str | None = None) -> Iterator[None]:
    """Turn what can go wrong with a command into its exit code and one-line reasons (CONTRACT §4).

    2 for input that is not a valid case (or an output that cannot be written); 1 for a bug, with the
    traceback only when ``VERTAID_DEBUG`` is set.
    """
    from vertaid.cli._input import UnreadableInput
    from vertaid.cli._output import UnwritableOutput
    from vertaid.domain.case import InvalidCase

    try:
        yield
    except UnwritableOutput as error:
        _fail([f"vertaid: cannot write {output}: {error}"], EXIT_INVALID_INPUT)
    except UnreadableInput as error:
        _fail([f"{'<stdin>' if case_file == '-' else case_file}: {error}"], EXIT_INVALID_INPUT)
    except InvalidCase as error:
        _fail([f"{path}: {message}" for path, message in error.problems], EXIT_INVALID_INPUT)
    except Exception as error:  # a bug: one line for the user, the traceback only on request
        if os.environ.get("VERTAID_DEBUG"):
            raise
        _fail(
            [f"vertaid: internal error ({type(error).__name__}); set VERTAID_DEBUG=1 for details"],
            EXIT_INTERNAL_ERROR,
        )


@app.command()
def assess(
    case_file: Annotated[
        str, typer.Argument(metavar="CASE.json", help="The case file, or - for standard input.")
    ],
    output_format: Annotated[
        OutputFormat,
        typer.Option("--format", "-f", help="text: a readable summary; json: vertaid.assessment/1."),
    ] = OutputFormat.text,
    fhir: Annotated[
        bool, typer.Option("--fhir", help="The file is a FHIR R4 Bundle (or CDS Hooks prefetch), not a case.")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", metavar="DATE", help="With --fhir: the date ages and weeks count back from."),
    ] = None,
) -> None:
    """Assess a case (vertaid.case/1, or a FHIR R4 Bundle with --fhir): the recommendation and its reasons."""
    from vertaid.cli._input import read_json_document

    reference = None
    if as_of is not None or fhir:
        from vertaid.cli._fhir import reference_date

        reference = reference_date(as_of, fhir)
    with _exit_codes_for_failures(case_file):
        document = read_json_document(case_file)
        if fhir:
            from vertaid.fhir import assess_fhir

            assessment = assess_fhir(document, reference)
        else:
            from vertaid.services.assessment import assess as assess_case

            assessment = assess_case(document)
    if output_format is OutputFormat.json:
        sys.stdout.write(json.dumps(assessment, indent=2, ensure_ascii=False) + "\n")
    else:
        from rich.console import Console

        from vertaid.cli._text import render_assessment

        render_assessment(assessment, Console(highlight=False))


class ReportAudience(StrEnum):
    """Who ``report`` writes for."""

    patient = "patient"
    clinician = "clinician"


class ReportFormat(StrEnum):
    """The file ``report`` writes."""

    html = "html"
    pdf = "pdf"


@app.command()
def report(
    case_file: Annotated[
        str, typer.Argument(metavar="CASE.json", help="The case file, or - for standard input.")
    ],
    output: Annotated[
        str,
        typer.Option("--output", "-o", metavar="FILE", help="The file to write, or - for standard output."),
    ],
    audience: Annotated[
        ReportAudience,
        typer.Option(
            "--audience", "-a", help="patient: the decision aid; clinician: the clinician's report."
        ),
    ] = ReportAudience.patient,
    output_format: Annotated[
        ReportFormat,
        typer.Option("--format", "-f", help="html: one self-contained file; pdf: printed from that HTML."),
    ] = ReportFormat.html,
) -> None:
    """Write the patient decision aid or the clinician's report of a case, as HTML or PDF."""
    from vertaid.cli._input import read_json_document
    from vertaid.cli._output import check_writable, write_atomically

    with _exit_codes_for_failures(case_file, output):
        check_writable(output)
        document = read_json_document(case_file)
        from vertaid.services.report import report as render

        content = render(document, audience.value, output_format.value)
        write_atomically(output, content)


@app.command()
def knowledge() -> None:
    """Show the knowledge pack in use: its id, version, effective date and sha256 digest."""
    from vertaid.knowledge import default_pack

    pack = default_pack()
    sys.stdout.write(
        f"{pack.id} {pack.version} (effective {pack.effective_date})\n"
        f"sha256 {pack.digest}\n"
        f"{len(pack.sources)} sources, {len(pack.parameters)} parameters, "
        f"{sum(len(step.rules) for step in pack.steps) + len(pack.choice.factors)} decision rules\n"
    )


class SchemaName(StrEnum):
    """Which JSON Schema to print."""

    case = "case"
    pack = "pack"


@app.command()
def schema(which: Annotated[SchemaName, typer.Argument(help="case or pack")] = SchemaName.case) -> None:
    """Print the JSON Schema of the case (vertaid.case/1) or of the knowledge pack's files."""
    if which is SchemaName.case:
        from vertaid.domain.case import CASE_SCHEMA_ID, CASE_SHAPE

        document = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": CASE_SCHEMA_ID}
        document.update(CASE_SHAPE.json_schema())
    else:
        from vertaid.knowledge import pack_json_schema

        document = pack_json_schema()
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def _whole_number(text: str, name: str) -> int:
    """A command-line whole number, 0 or more; a one-line reason and exit 2 otherwise."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        _fail([f"vertaid synth: {name} must be a whole number, 0 or more (got {text!r})"], EXIT_INVALID_INPUT)
    return value


@app.command()
def synth(
    count: Annotated[str, typer.Argument(metavar="N", help="How many cases (lines) to write.")],
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", metavar="FILE", help="The JSON Lines file to write, or - for standard output."
        ),
    ],
    seed: Annotated[
        str,
        typer.Option(
            "--seed", "-s", metavar="S", help="The random seed: the same N and S give the same file."
        ),
    ] = "0",
    invalid_fraction: Annotated[
        str,
        typer.Option(
            "--invalid-fraction",
            metavar="F",
            help="The share of lines (0 to 1) made invalid on purpose, in varied ways, to show rejects.",
        ),
    ] = "0",
) -> None:
    """Write N synthetic cases (vertaid.case/1) as JSON Lines: illustrative, for demos, tests, benchmarks."""
    number, random_seed = _whole_number(count, "N"), _whole_number(seed, "the seed")
    try:
        fraction = float(invalid_fraction)
    except ValueError:
        fraction = math.nan
    if not 0 <= fraction <= 1:
        _fail(
            [f"vertaid synth: the invalid fraction must be from 0 to 1 (got {invalid_fraction!r})"],
            EXIT_INVALID_INPUT,
        )
    from vertaid.cli._output import check_writable, write_chunks_atomically
    from vertaid.cohort._synth import invalid_line_count, synthesise_jsonl

    with _exit_codes_for_failures("", output):
        check_writable(output)
        write_chunks_atomically(output, synthesise_jsonl(number, random_seed, fraction))
    if output != "-":
        invalid = invalid_line_count(number, fraction)
        broken = f", {invalid} of them deliberately invalid" if invalid else ""
        sys.stderr.write(f"vertaid: wrote {number} synthetic cases to {output}{broken}\n")


app.command()(cohort)
app.command()(serve)
app.command()(demo)
app.command()(export)
app.command()(purge)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
