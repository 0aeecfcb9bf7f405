"""The published FHIR material: the example Bundles (examples/fhir/), the mapping document, and
``vertaid assess --fhir`` at the command line (CONTRACT §4: the same output and exit codes as a case)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import pytest
from typer.testing import CliRunner

import vertaid
from vertaid.cli._app import app
from vertaid.fhir import assess_fhir, case_to_bundle
from vertaid.fhir._doc import mapping_markdown

ROOT: Final = Path(__file__).resolve().parent.parent
VIGNETTES: Final = sorted((ROOT / "tests" / "vignettes").glob("*.json"))
EXAMPLES: Final = ROOT / "examples" / "fhir"


def _json(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def test_there_is_one_example_bundle_per_vignette_and_no_other() -> None:
    """examples/fhir/ holds exactly one Bundle per public vignette, under the vignette's file name."""
    assert [path.name for path in VIGNETTES] == sorted(path.name for path in EXAMPLES.glob("*.json"))
    assert 20 == len(VIGNETTES)


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[path.stem for path in VIGNETTES])
def test_each_example_bundle_gives_its_vignettes_assessment(vignette: Path) -> None:
    """A vignette's Bundle is assessed exactly as its JSON case is, so it gives the vignette's expected
    decision, strength, score, target levels and per-level scores."""
    expected = _json(vignette)
    bundle = _json(EXAMPLES / vignette.name)

    assessment = assess_fhir(bundle)

    assert vertaid.assess(expected["case"]) == assessment
    for key in ("decision", "strength", "score", "target_levels"):
        assert expected["expected"][key] == assessment[key], key
    for want, got in zip(expected["expected"].get("fractures", []), assessment["fractures"], strict=True):
        assert want == {member: got[member] for member in want}


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[path.stem for path in VIGNETTES])
def test_each_example_bundle_is_what_the_writer_makes_of_its_vignette(vignette: Path) -> None:
    """The committed Bundle is case_to_bundle's output for the vignette at the Bundle's timestamp, so
    the examples cannot drift from the mapping (scripts/fhir_generate.py rewrites them)."""
    bundle = _json(EXAMPLES / vignette.name)

    written = case_to_bundle(_json(vignette)["case"], datetime.fromisoformat(bundle["timestamp"]))

    assert json.loads(json.dumps(written)) == bundle


@pytest.mark.parametrize("vignette", VIGNETTES[:3], ids=[path.stem for path in VIGNETTES[:3]])
def test_an_example_bundle_is_valid_fhir_r4_as_a_whole(vignette: Path) -> None:
    """The whole Bundle validates with the fhir.resources R4B Bundle model, resources included."""
    from fhir.resources.R4B.bundle import Bundle

    bundle = Bundle.model_validate(_json(EXAMPLES / vignette.name))

    assert bundle.entry is not None and len(bundle.entry) > 5


def test_the_mapping_document_is_the_one_the_tables_make() -> None:
    """docs/fhir-mapping.md is exactly what the mapping tables render (scripts/fhir_generate.py)."""
    assert mapping_markdown() == (ROOT / "docs" / "fhir-mapping.md").read_text(encoding="utf-8")


# -- the command line ----------------------------------------------------------------------------------

EXAMPLE: Final = EXAMPLES / "02-collapse-over-30.json"


def test_assess_fhir_prints_the_same_json_as_assessing_the_case() -> None:
    """``vertaid assess --fhir BUNDLE --format json`` exits 0 and prints the case's assessment."""
    result = CliRunner().invoke(app, ["assess", "--fhir", str(EXAMPLE), "--format", "json"])
    case = CliRunner().invoke(app, ["assess", str(ROOT / "examples" / EXAMPLE.name), "--format", "json"])

    assert 0 == result.exit_code, result.output
    assert json.loads(case.stdout) == json.loads(result.stdout)


def test_assess_fhir_reads_standard_input_and_prints_text() -> None:
    """``-`` reads the Bundle from standard input; the text output names the decision."""
    result = CliRunner().invoke(app, ["assess", "--fhir", "-"], input=EXAMPLE.read_text(encoding="utf-8"))

    assert 0 == result.exit_code, result.output
    assert "Kyphoplasty" in result.stdout


def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    """The installed ``vertaid`` program, as a user runs it."""
    program = shutil.which("vertaid", path=str(Path(sys.executable).parent))
    assert program is not None, "the vertaid console script is not installed"
    return subprocess.run([program, *args], capture_output=True, timeout=60, check=False)


def test_a_bad_bundle_exits_2_with_one_line_per_problem_and_nothing_on_stdout(tmp_path: Path) -> None:
    """Two different pain scores at the same time: exit 2, one line naming the Observations, no traceback."""
    bundle = _json(EXAMPLE)
    nrs = next(entry["resource"] for entry in bundle["entry"] if entry["resource"].get("id") == "72514-3")
    bundle["entry"].append({"resource": {**nrs, "id": "nrs-again", "valueInteger": 2}})
    path = tmp_path / "conflict.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")

    completed = _run("assess", "--fhir", str(path))
    lines = completed.stderr.decode().splitlines()

    assert 2 == completed.returncode
    assert b"" == completed.stdout
    assert 1 == len(lines)
    assert lines[0].startswith("Observation/72514-3.valueInteger: ")
    assert "Observation/nrs-again.valueInteger" in lines[0]
    assert "Traceback" not in completed.stderr.decode()


def test_a_file_that_is_not_json_exits_2_with_fhir_too(tmp_path: Path) -> None:
    """Input that is not JSON is refused as for a case: exit 2, one line naming the file."""
    path = tmp_path / "bundle.json"
    path.write_bytes(b"<Bundle xmlns='http://hl7.org/fhir'/>")

    result = CliRunner().invoke(app, ["assess", "--fhir", str(path)])

    assert 2 == result.exit_code
    assert result.stderr.startswith(f"{path}: ")


def test_a_case_given_as_a_bundle_is_refused_at_its_resource_type() -> None:
    """A vertaid case passed with --fhir is not a Bundle: exit 2 naming what it lacks."""
    result = CliRunner().invoke(app, ["assess", "--fhir", str(ROOT / "examples" / EXAMPLE.name)])

    assert 2 == result.exit_code
    assert "is a second patient" not in result.stderr
    assert result.stderr.strip()


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--as-of", "2025-06"], "is not a date"),
        (["--as-of", "2025-06-02T09:00"], "needs its time zone"),
    ],
)
def test_a_bad_as_of_date_exits_2(args: list[str], reason: str) -> None:
    """``--as-of`` takes a date or a time with its zone; anything else is exit 2 with the reason."""
    result = CliRunner().invoke(app, ["assess", "--fhir", str(EXAMPLE), *args])

    assert 2 == result.exit_code
    assert reason in result.stderr


def test_as_of_moves_the_reference_date() -> None:
    """``--as-of`` 13 weeks after the Bundle's timestamp ages the L2 fracture past the LCD's 12 weeks."""
    later = CliRunner().invoke(app, ["assess", "--fhir", str(EXAMPLE), "--as-of", "2025-09-01", "-f", "json"])

    assessment = json.loads(later.stdout)
    unmet = " ".join(assessment["coverage"]["medicare_lcd"]["unmet"])

    assert 0 == later.exit_code
    assert "12 weeks" in unmet


def test_as_of_without_fhir_is_refused() -> None:
    """``--as-of`` means nothing for a case: exit 2 rather than ignore it."""
    result = CliRunner().invoke(
        app, ["assess", str(ROOT / "examples" / EXAMPLE.name), "--as-of", "2025-06-02"]
    )

    assert 2 == result.exit_code
    assert "only for a FHIR input" in result.stderr


def test_assess_without_fhir_does_not_load_the_fhir_models() -> None:
    """``vertaid assess CASE`` imports neither vertaid.fhir nor fhir.resources: start-up stays as it was."""
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from vertaid.cli._app import app\n"
        f"result = CliRunner().invoke(app, ['assess', {str(ROOT / 'examples' / EXAMPLE.name)!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in ('vertaid.fhir', 'fhir.resources', 'pydantic') if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )

    assert "[]" == loaded.stdout.strip()
