"""``vertaid report CASE.json --audience patient|clinician --format html|pdf -o FILE`` (CONTRACT §5a).

A valid case writes the report and exits 0. An invalid case exits 2 naming every problem's path, and
an output that cannot be written exits 2 with its reason; neither leaves a file, a partial file or a
traceback behind, and an existing file is untouched. PDF is printed from the same HTML, with text that
can be selected and searched. ``vertaid assess`` does not load the report machinery.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import pypdf
import pytest
from typer.testing import CliRunner

from tests.report_pages import vignette_case, visible_text
from vertaid.cli._app import app
from vertaid.report import html_to_pdf
from vertaid.services.report import render_report, report

RUNNER: Final = CliRunner()
EXAMPLES: Final = Path(__file__).parents[1] / "examples"
CASE_FILE: Final = str(EXAMPLES / "02-collapse-over-30.json")


def run(*args: str, stdin: str | None = None) -> Any:
    """Run the command line in-process and return Typer's result."""
    return RUNNER.invoke(app, list(args), input=stdin)


def leftovers(folder: Path) -> list[str]:
    """Files in a folder other than the ones a test put there itself (partial files, temporaries)."""
    return sorted(path.name for path in folder.iterdir())


@pytest.mark.parametrize("audience", ["patient", "clinician"])
def test_an_html_report_is_written_to_the_output_file(tmp_path: Path, audience: str) -> None:
    """Exit 0, nothing on standard output, and the file is the report of that case for that audience."""
    target = tmp_path / "report.html"

    result = run("report", CASE_FILE, "--audience", audience, "--format", "html", "-o", str(target))

    assert 0 == result.exit_code, result.output
    assert "" == result.stdout
    assert render_report(vignette_case("02-collapse-over-30"), audience).html == target.read_text("utf-8")
    assert ["report.html"] == leftovers(tmp_path)


def test_the_report_goes_to_standard_output_with_a_dash(tmp_path: Path) -> None:
    """``-o -`` writes the HTML to standard output; ``-`` as the case reads standard input."""
    result = run("report", "-", "-o", "-", stdin=Path(CASE_FILE).read_text("utf-8"))

    assert 0 == result.exit_code
    assert result.stdout.startswith("<!DOCTYPE html>")


def test_an_invalid_case_exits_2_naming_each_problem_and_writes_nothing(tmp_path: Path) -> None:
    """Each problem on its own line with its JSON path; no traceback; no file, not even a partial one."""
    bad = tmp_path / "case.json"
    bad.write_text(json.dumps({"patient": {"age": 12}, "pain": {"nrs": 11}, "fractures": [{"level": "L9"}]}))
    target = tmp_path / "out.html"

    result = run("report", str(bad), "-o", str(target))

    assert 2 == result.exit_code
    assert "patient.age:" in result.stderr
    assert "pain.nrs:" in result.stderr
    assert "fractures[0].level: 'L9' is not a vertebral level" in result.stderr
    assert "Traceback" not in result.output
    assert ["case.json"] == leftovers(tmp_path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "is empty"),
        (b"\x00\x01", "is binary"),
        (b"{not json", "is not JSON"),
        (b"[" * 100 + b"]" * 100, "nested"),
    ],
)
def test_unreadable_input_exits_2_with_its_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    """Empty, binary, non-JSON or deeply nested input is refused in one line (the same reading as assess)."""
    source = tmp_path / "case.json"
    source.write_bytes(content)

    result = run("report", str(source), "-o", str(tmp_path / "out.html"))

    assert 2 == result.exit_code
    assert reason in result.stderr
    assert "Traceback" not in result.output
    assert ["case.json"] == leftovers(tmp_path)


def test_an_invalid_case_leaves_an_existing_report_untouched(tmp_path: Path) -> None:
    """A failed run never clobbers the file that is already there."""
    target = tmp_path / "out.html"
    target.write_text("the previous report")
    bad = tmp_path / "case.json"
    bad.write_text("{}")

    result = run("report", str(bad), "-o", str(target))

    assert 2 == result.exit_code
    assert "the previous report" == target.read_text()
    assert ["case.json", "out.html"] == leftovers(tmp_path)


def test_an_output_in_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    """``-o`` into a directory that does not exist: exit 2, one line saying so, no traceback."""
    target = tmp_path / "missing" / "out.html"

    result = run("report", CASE_FILE, "-o", str(target))

    assert 2 == result.exit_code
    assert f"vertaid: cannot write {target}: no such directory" == result.stderr.strip()
    assert "Traceback" not in result.output


def test_an_output_that_is_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    """``-o`` naming a directory: exit 2, and the directory is left as it was."""
    result = run("report", CASE_FILE, "-o", str(tmp_path))

    assert 2 == result.exit_code
    assert "is a directory" in result.stderr
    assert [] == leftovers(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any directory")
def test_an_output_in_a_read_only_directory_is_a_clear_error(tmp_path: Path) -> None:  # pragma: no cover
    """``-o`` into a directory without write permission: exit 2, "permission denied"."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        result = run("report", CASE_FILE, "-o", str(folder / "out.html"))
    finally:
        folder.chmod(0o700)

    assert 2 == result.exit_code
    assert "permission denied" in result.stderr


def test_a_failure_while_writing_removes_the_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the rename fails after the bytes are written, the temporary file goes: nothing partial stays."""

    def refuse(source: Any, target: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    target = tmp_path / "out.html"

    result = run("report", CASE_FILE, "-o", str(target))

    assert 2 == result.exit_code
    assert "permission denied" in result.stderr
    assert [] == leftovers(tmp_path)


def pdf_text(pdf: bytes) -> str:
    """The text of every page of a PDF, as a reader's "select all, copy" would give it."""
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def test_the_patient_pdf_has_selectable_text_naming_both_procedures() -> None:
    """The PDF is a real document: its extracted text names kyphoplasty and vertebroplasty."""
    pdf = report(vignette_case("02-collapse-over-30"), "patient", "pdf")
    text = pdf_text(pdf)

    assert pdf.startswith(b"%PDF-")
    assert "Kyphoplasty" in text
    assert "Vertebroplasty" in text
    assert "out of 100 people" in text


def test_the_pdf_is_printed_from_the_same_html() -> None:
    """The clinician's PDF carries the HTML report's decision and rule ids."""
    rendered = render_report(vignette_case("17-heart-disease-cost"), "clinician")
    text = pdf_text(html_to_pdf(rendered.html))

    assert "Vertebroplasty" in text and "Kyphoplasty" in text
    assert "V-heart" in text
    assert "Medicare LCD checklist" in text
    assert "strong recommendation" in visible_text(rendered.html)


def test_the_command_line_writes_a_pdf(tmp_path: Path) -> None:
    """``--format pdf -o FILE`` writes a PDF file whose text names both procedures."""
    target = tmp_path / "decision-aid.pdf"

    case_file = EXAMPLES / "01-stable-pain-only.json"

    result = run("report", str(case_file), "--audience", "patient", "--format", "pdf", "-o", str(target))

    assert 0 == result.exit_code, result.output
    text = pdf_text(target.read_bytes())
    assert "Kyphoplasty" in text and "Vertebroplasty" in text
    assert ["decision-aid.pdf"] == leftovers(tmp_path)


def test_a_pdf_fetches_nothing_from_outside() -> None:
    """Printing refuses every URL: a report that tried to load a resource would fail, not fetch it."""
    html = "<html><body><p>x</p><img src='http://127.0.0.1:9/never.png'></body></html>"

    with pytest.raises(ValueError, match=r"never\.png"):
        html_to_pdf(html)


def test_assess_does_not_load_the_report_machinery() -> None:
    """``vertaid assess`` imports neither Jinja2 nor WeasyPrint: its start-up time does not grow."""
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from vertaid.cli._app import app\n"
        f"result = CliRunner().invoke(app, ['assess', {CASE_FILE!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in ('jinja2', 'weasyprint', 'vertaid.report') if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )

    assert "[]" == loaded.stdout.strip()
