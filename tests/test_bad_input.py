"""Bad input at the doors: the command line (CONTRACT §4) and the Python API (CONTRACT §4a).

A valid case exits 0 with the assessment on standard output; anything that is not a valid case exits 2
with one ``path: message`` line per problem on standard error and nothing on standard output, never a
traceback. The Python API raises ``InvalidCase`` with the same problems the command line prints.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import pytest
from typer.testing import CliRunner

import vertaid
from vertaid.cli._app import app
from vertaid.knowledge import default_pack

VIGNETTES: Final = Path(__file__).parent / "vignettes"
MIB: Final = 1024 * 1024

_PATH: Final = re.compile(r"\$|[A-Za-z_][\w-]*(\[\d+\])*(\.[A-Za-z_][\w-]*(\[\d+\])*)*")
"""A JSON path as problems name it: ``$`` for the whole document, else ``fractures[0].level`` etc."""


def _executable() -> str:
    found = shutil.which("vertaid", path=str(Path(sys.executable).parent)) or shutil.which("vertaid")
    assert found is not None, "the vertaid console script is not installed"
    return found


VERTAID: Final = _executable()


def vignette_case(name: str) -> dict[str, Any]:
    """The case of a vignette in tests/vignettes."""
    case: dict[str, Any] = json.loads((VIGNETTES / name).read_text(encoding="utf-8"))["case"]
    return case


VIGNETTE_NAMES: Final = sorted(path.name for path in VIGNETTES.glob("*.json"))


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run the installed ``vertaid`` program as a user would."""
    env = {key: value for key, value in os.environ.items() if key != "VERTAID_DEBUG"}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [VERTAID, *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )


def stderr_lines(completed: subprocess.CompletedProcess[bytes]) -> list[str]:
    """The lines on standard error, decoded."""
    return completed.stderr.decode("utf-8").splitlines()


def problems_of(case: object) -> list[tuple[str, str]]:
    """The problems the Python API reports for an invalid case."""
    with pytest.raises(vertaid.InvalidCase) as raised:
        vertaid.assess(case)
    problems: list[tuple[str, str]] = raised.value.problems
    return problems


def write(tmp_path: Path, content: bytes, name: str = "case.json") -> Path:
    """Write a file under tmp_path and return its path."""
    path = tmp_path / name
    path.write_bytes(content)
    return path


def assert_refused(completed: subprocess.CompletedProcess[bytes], source: str | None = None) -> list[str]:
    """The program exited 2 with ``name: message`` lines on standard error, no traceback and no output."""
    lines = stderr_lines(completed)
    assert 2 == completed.returncode, lines
    assert b"" == completed.stdout
    assert lines, "no reason given on standard error"
    assert "Traceback" not in completed.stderr.decode("utf-8")
    for line in lines:
        name, separator, message = line.partition(": ")
        assert ": " == separator, line
        assert message.strip(), line
        if source is not None:
            assert source == name, line
        else:
            assert _PATH.fullmatch(name), line
    return lines


# -- a valid case ----------------------------------------------------------------------------


def test_a_valid_case_exits_0_with_the_assessment_as_json_and_nothing_on_stderr(tmp_path: Path) -> None:
    """``assess CASE --format json`` exits 0 and prints what ``vertaid.assess`` gives; stderr is empty."""
    case = vignette_case("02-collapse-over-30.json")
    path = write(tmp_path, json.dumps(case).encode())

    completed = run_cli("assess", str(path), "--format", "json")

    assert 0 == completed.returncode, completed.stderr
    assert b"" == completed.stderr
    printed = json.loads(completed.stdout)
    assert "vertaid.assessment/1" == printed["schema"]
    assert vertaid.assess(case) == printed


def test_the_default_text_format_names_the_decision(tmp_path: Path) -> None:
    """``assess CASE`` (text by default) exits 0 and names the decision and the target levels."""
    case = vignette_case("02-collapse-over-30.json")
    path = write(tmp_path, json.dumps(case).encode())

    completed = run_cli("assess", str(path))

    assert 0 == completed.returncode, completed.stderr
    assert b"" == completed.stderr
    text = completed.stdout.decode("utf-8")
    assert "kyphoplasty" in text.lower()
    assert "L2" in text


def _names_the_decision(text: str, decision: str) -> bool:
    lowered = " ".join(text.lower().split())
    label = default_pack().decisions[decision].label.lower()
    return decision.replace("_", " ") in lowered or label in lowered


@pytest.mark.parametrize("name", VIGNETTE_NAMES)
def test_the_text_format_names_the_decision_of_every_vignette(name: str, tmp_path: Path) -> None:
    """For every vignette the text output names its decision (by name or by the pack's label)."""
    case = vignette_case(name)
    path = write(tmp_path, json.dumps(case).encode())
    decision = vertaid.assess(case)["decision"]

    result = CliRunner().invoke(app, ["assess", str(path), "--format", "text"], env={"COLUMNS": "200"})

    assert 0 == result.exit_code, result.stderr
    assert "" == result.stderr
    assert _names_the_decision(result.stdout, decision), decision


def test_a_dash_reads_the_case_from_standard_input() -> None:
    """``assess -`` reads the case from standard input and prints its assessment."""
    case = vignette_case("01-stable-pain-only.json")

    completed = run_cli("assess", "-", "--format", "json", stdin=json.dumps(case).encode())

    assert 0 == completed.returncode, completed.stderr
    assert b"" == completed.stderr
    assert vertaid.assess(case) == json.loads(completed.stdout)


def test_a_dash_reads_standard_input_in_process_too() -> None:
    """Through the Typer app, ``assess -`` reads standard input and the text output names the decision."""
    case = vignette_case("12-neuro-deficit.json")

    result = CliRunner().invoke(app, ["assess", "-"], input=json.dumps(case))

    assert 0 == result.exit_code, result.stderr
    assert _names_the_decision(result.stdout, vertaid.assess(case)["decision"])


# -- invalid cases: one line per problem ----------------------------------------------------


SEVERAL_PROBLEMS: Final[dict[str, Any]] = {
    "patient": {"age": 130, "sexx": "female"},
    "fractures": [
        {"level": "L9", "mri_edema": True},
        {"level": "L1", "mri_edema": True},
        {"level": "L1", "height_loss_percent": 35},
    ],
}


def test_several_problems_are_each_reported_on_their_own_line(tmp_path: Path) -> None:
    """An invalid case exits 2 with one ``path: message`` line per problem: unknown level, misspelt key,
    out-of-range age, missing field and repeated level, with nothing on standard output."""
    path = write(tmp_path, json.dumps(SEVERAL_PROBLEMS).encode())

    lines = assert_refused(run_cli("assess", str(path), "--format", "json"))

    assert "fractures[0].level: 'L9' is not a vertebral level" in lines
    by_path = {line.partition(": ")[0]: line.partition(": ")[2] for line in lines}
    assert "did you mean 'sex'" in by_path["patient.sexx"]
    assert "120" in by_path["patient.age"]
    assert "pain" in by_path
    assert "fractures[2].level" in by_path
    assert 5 == len(lines)


def test_the_python_api_reports_the_same_problems_as_the_command_line(tmp_path: Path) -> None:
    """``vertaid.assess`` raises ``InvalidCase`` whose ``(path, message)`` pairs are the CLI's lines."""
    path = write(tmp_path, json.dumps(SEVERAL_PROBLEMS).encode())

    lines = stderr_lines(run_cli("assess", str(path)))
    problems = problems_of(json.loads(path.read_text()))

    shapes: list[Any] = list(problems)
    assert all(isinstance(problem, tuple) and 2 == len(problem) for problem in shapes)
    assert lines == [f"{where}: {message}" for where, message in problems]


INVALID_CASES: Final[dict[str, Any]] = {
    "top-level array": [SEVERAL_PROBLEMS],
    "top-level string": "a case",
    "top-level number": 78,
    "top-level null": None,
    "boolean age": {"patient": {"age": True}, "pain": {"nrs": 7}, "fractures": [{"level": "L1"}]},
    "string pain": {"patient": {"age": 78}, "pain": {"nrs": "7"}, "fractures": [{"level": "L1"}]},
    "empty object": {},
    "no fractures": {"patient": {"age": 78}, "pain": {"nrs": 7}, "fractures": []},
    "eighteen fractures": {
        "patient": {"age": 78},
        "pain": {"nrs": 7},
        "fractures": [
            {"level": level}
            for level in (
                "C1",
                "C2",
                "C3",
                "C4",
                "C5",
                "C6",
                "C7",
                "T1",
                "T2",
                "T3",
                "T4",
                "T5",
                "T6",
                "T7",
                "T8",
                "T9",
                "T10",
                "T11",
            )
        ],
    },
}


@pytest.mark.parametrize("name", sorted(INVALID_CASES))
def test_every_invalid_json_case_gives_the_same_lines_through_the_cli_and_the_api(
    name: str, tmp_path: Path
) -> None:
    """A JSON document that is not a valid case exits 2 with exactly the API's problems as lines."""
    document = INVALID_CASES[name]
    path = write(tmp_path, json.dumps(document).encode())

    result = CliRunner().invoke(app, ["assess", str(path)])
    problems = problems_of(document)

    assert 2 == result.exit_code
    assert "" == result.stdout
    assert [f"{where}: {message}" for where, message in problems] == result.stderr.splitlines()


def test_a_top_level_array_or_string_is_a_problem_of_the_whole_document() -> None:
    """A document that is not a JSON object is one problem at ``$``."""
    for document in ([], ["case"], "case", 1, None):
        problems = problems_of(document)

        assert ["$"] == [where for where, _ in problems], document


def test_a_boolean_is_not_a_number() -> None:
    """``"age": true`` is a problem at patient.age, never read as 1."""
    case = vignette_case("02-collapse-over-30.json")
    case["patient"]["age"] = True
    case["pain"]["nrs"] = False

    paths = sorted(where for where, _ in problems_of(case))

    assert ["pain.nrs", "patient.age"] == paths


def test_a_boolean_is_not_a_height_loss() -> None:
    """``"height_loss_percent": true`` is a problem at its path (a boolean is not a number)."""
    case = vignette_case("02-collapse-over-30.json")
    case["fractures"][0]["height_loss_percent"] = True

    assert ["fractures[0].height_loss_percent"] == [where for where, _ in problems_of(case)]


def test_a_string_is_not_a_number() -> None:
    """``"nrs": "7"`` is a problem at pain.nrs, never read as 7."""
    case = vignette_case("02-collapse-over-30.json")
    case["pain"]["nrs"] = "7"
    case["patient"]["t_score"] = "-2.7"

    paths = sorted(where for where, _ in problems_of(case))

    assert ["pain.nrs", "patient.t_score"] == paths


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_number_given_to_the_api_is_a_problem(value: float) -> None:
    """NaN and infinities handed to the Python API are problems at their paths, not crashes."""
    case = vignette_case("02-collapse-over-30.json")
    case["patient"]["t_score"] = value
    case["fractures"][0]["height_loss_percent"] = value
    case["pain"]["rdq"] = value

    paths = sorted(where for where, _ in problems_of(case))

    assert ["fractures[0].height_loss_percent", "pain.rdq", "patient.t_score"] == paths


def test_the_problems_are_a_list_of_path_message_pairs() -> None:
    """``InvalidCase.problems`` is a list of ``(str, str)`` tuples and the error is a ``ValueError``."""
    with pytest.raises(vertaid.InvalidCase) as raised:
        vertaid.assess(SEVERAL_PROBLEMS)

    assert isinstance(raised.value, ValueError)
    problems: Any = raised.value.problems
    assert isinstance(problems, list)
    assert all(
        isinstance(p, tuple) and 2 == len(p) and all(isinstance(part, str) for part in p) for p in problems
    )


# -- input that is not a JSON document at all -----------------------------------------------


def _valid_bytes() -> bytes:
    return json.dumps(vignette_case("02-collapse-over-30.json")).encode()


def _valid_with(old: bytes, new: bytes) -> bytes:
    """The valid case's JSON text with one piece of text replaced."""
    valid = _valid_bytes()
    assert old in valid
    return valid.replace(old, new)


UNREADABLE: Final[dict[str, bytes]] = {
    "empty file": b"",
    "whitespace only": b" \n\t\r\n  ",
    "not JSON": b"patient: age 78\n",
    "truncated JSON": _valid_bytes()[:-3],
    "trailing garbage": _valid_bytes() + b" }",
    "NUL bytes": b'{"patient": \x00 {"age": 78}}',
    "binary": bytes(range(256)) * 8,
    "random bytes without NUL": bytes((n * 37 + 11) % 255 + 1 for n in range(4096)),
    "invalid UTF-8": b'{"id": "\xff\xfe\xc3", "patient": {"age": 78}}',
    "NaN number": _valid_with(b'"t_score": -2.7', b'"t_score": NaN'),
    "Infinity number": _valid_with(b'"nrs": 7', b'"nrs": Infinity'),
    "over 1 MiB": b'{"id": "' + b"x" * (MIB + 10) + b'"}',
    "over 1 MiB of whitespace around a valid case": _valid_bytes() + b" " * (MIB + 10),
    "nested 10,000 deep (arrays)": b"[" * 10_000 + b"]" * 10_000,
    "nested 10,000 deep (objects)": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "nested 10,000 deep inside a case": (
        b'{"patient": {"age": 78}, "pain": {"nrs": 7}, "fractures": [{"level": "L1"}], "id": '
        + b"[" * 10_000
        + b"]" * 10_000
        + b"}"
    ),
}


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_a_file_that_is_not_a_json_case_exits_2_with_one_reason(name: str, tmp_path: Path) -> None:
    """Empty, blank, binary, non-UTF-8, non-JSON, NaN, over-1-MiB and deeply nested files exit 2 with
    a ``file: reason`` line on stderr, nothing on stdout and no traceback."""
    path = write(tmp_path, UNREADABLE[name])

    lines = assert_refused(run_cli("assess", str(path), "--format", "json"), source=str(path))

    assert 1 == len(lines)


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_standard_input_that_is_not_a_json_case_exits_2(name: str) -> None:
    """The same inputs on standard input (``-``) exit 2 with one ``<stdin>: reason`` line."""
    result = CliRunner().invoke(app, ["assess", "-", "--format", "json"], input=UNREADABLE[name])

    assert 2 == result.exit_code, result.stderr
    assert "" == result.stdout
    lines = result.stderr.splitlines()
    assert 1 == len(lines)
    assert lines[0].startswith("<stdin>: ")
    assert "Traceback" not in result.stderr


def test_a_file_of_exactly_1_mib_is_read(tmp_path: Path) -> None:
    """A valid case padded with whitespace to exactly 1 MiB is still assessed (the limit is over 1 MiB)."""
    content = _valid_bytes()
    path = write(tmp_path, content + b" " * (MIB - len(content)))

    completed = run_cli("assess", str(path), "--format", "json")

    assert 0 == completed.returncode, completed.stderr
    assert "vertaid.assessment/1" == json.loads(completed.stdout)["schema"]


def test_a_file_with_a_utf8_byte_order_mark_is_read(tmp_path: Path) -> None:
    """A UTF-8 file that starts with a byte-order mark (as some editors write) is a readable case."""
    path = write(tmp_path, b"\xef\xbb\xbf" + _valid_bytes())

    completed = run_cli("assess", str(path), "--format", "json")

    assert 0 == completed.returncode, completed.stderr


def test_a_missing_file_exits_2_naming_the_file(tmp_path: Path) -> None:
    """A path that does not exist exits 2 with one line naming it."""
    path = tmp_path / "no-such-case.json"

    lines = assert_refused(run_cli("assess", str(path)), source=str(path))

    assert 1 == len(lines)


def test_a_directory_exits_2_naming_it(tmp_path: Path) -> None:
    """A directory given as the case exits 2 with one line naming it."""
    lines = assert_refused(run_cli("assess", str(tmp_path)), source=str(tmp_path))

    assert 1 == len(lines)


def test_an_empty_standard_input_exits_2() -> None:
    """``assess -`` with nothing on standard input exits 2 with one line, from the real program."""
    lines = assert_refused(run_cli("assess", "-"), source="<stdin>")

    assert 1 == len(lines)


def test_binary_standard_input_exits_2() -> None:
    """``assess -`` with binary data on standard input exits 2 with one line, from the real program."""
    lines = assert_refused(run_cli("assess", "-", stdin=bytes(range(256))), source="<stdin>")

    assert 1 == len(lines)


def test_an_invalid_case_on_standard_input_gives_the_api_problems() -> None:
    """An invalid case on standard input exits 2 with the same lines the Python API reports."""
    lines = assert_refused(run_cli("assess", "-", stdin=json.dumps(SEVERAL_PROBLEMS).encode()))

    assert [f"{where}: {message}" for where, message in problems_of(SEVERAL_PROBLEMS)] == lines
