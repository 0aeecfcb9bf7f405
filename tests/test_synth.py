"""``vertaid synth N -o cases.jsonl --seed S``: synthetic ``vertaid.case/1`` cases as JSON Lines (issue 6).

Every line the generator means to be valid is a valid case; the same count and seed give the same bytes;
a sample of a few thousand cases uses every member of the case format, every enum value, every yes/no,
and both kinds of unknown (left out and JSON null), and leads to every decision. Lines made invalid on
purpose are each rejected by the case model, in every kind of way. The command line writes the file
atomically and exits 2 with one line on bad arguments. The distributions come from the profile file,
which is checked against the case format.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, Final

import pytest
from typer.testing import CliRunner

from vertaid import assess
from vertaid.cli._app import app
from vertaid.cohort import (
    INVALID_KINDS,
    PROFILE_FILE,
    ProfileError,
    invalid_line_count,
    synthesise_cases,
    synthesise_jsonl,
    write_cases,
)
from vertaid.cohort._synth import BATCH_SIZE, load_profile
from vertaid.domain._shapes import Boolean, Choice, ListOf, Record, Shape
from vertaid.domain.case import CASE_SHAPE, LEVELS, InvalidCase, parse_case
from vertaid.knowledge import default_pack

RUNNER: Final = CliRunner()
SAMPLE_SIZE: Final = 4000
DECISIONS: Final = tuple(default_pack().decisions)
"""Every decision the policy can make, as the knowledge pack names them."""


@cache
def sample() -> tuple[dict[str, Any], ...]:
    """A few thousand synthetic cases (seed 2024), parsed as JSON."""
    return tuple(json.loads(line) for line in synthesise_cases(SAMPLE_SIZE, 2024))


def members(shape: Record, prefix: str = "") -> Iterator[tuple[str, Shape, bool]]:
    """Every member of the case format: its path (lists as ``[]``), its shape and whether it is required."""
    for key, field in shape.fields.items():
        path = f"{prefix}{key}"
        yield path, field.shape, field.required
        inner = field.shape.item if isinstance(field.shape, ListOf) else field.shape
        if isinstance(inner, Record):
            yield from members(inner, f"{path}{'[]' if isinstance(field.shape, ListOf) else ''}.")


def values_at(path: str) -> list[object]:
    """The values of a member across the sample: ``...`` where its object is there but it is left out.

    ``fractures[].cause`` looks in every fracture; a member of an object that is itself left out or null
    is not counted."""
    found: list[object] = []

    def walk(node: object, steps: list[str]) -> None:
        if not isinstance(node, dict):
            return
        step, rest = steps[0], steps[1:]
        key = step.removesuffix("[]")
        if key not in node:
            if not rest:
                found.append(...)
            return
        value = node[key]
        if not rest:
            found.append(value)
            return
        for item in value if step.endswith("[]") and isinstance(value, list) else [value]:
            walk(item, rest)

    for case in sample():
        walk(case, path.split("."))
    return found


# -- valid lines ---------------------------------------------------------------------------------------


def test_every_line_is_a_valid_case_with_a_unique_id() -> None:
    """Each of a few thousand lines parses as JSON and passes the case model; ids run from 0 in order."""
    cases = sample()

    for case in cases:
        parse_case(case)
    assert [f"synth-2024-{number}" for number in range(SAMPLE_SIZE)] == [case["id"] for case in cases]


def test_the_same_count_and_seed_give_the_same_bytes() -> None:
    """Two runs with the same arguments are byte-identical; another seed gives another file."""
    first = b"".join(synthesise_jsonl(1500, 7, 0.05))

    assert first == b"".join(synthesise_jsonl(1500, 7, 0.05))
    assert first != b"".join(synthesise_jsonl(1500, 8, 0.05))
    assert first.endswith(b"\n") and 1500 == first.count(b"\n")


def test_a_file_longer_than_a_batch_continues_the_ids_and_is_all_lines() -> None:
    """Past one batch the lines go on: one line per case, ids still counting up, every line an object."""
    count = BATCH_SIZE + 25
    lines = list(synthesise_cases(count, 3))

    assert count == len(lines)
    assert f'{{"id":"synth-3-{BATCH_SIZE + 24}",' == lines[-1][: len(f'{{"id":"synth-3-{BATCH_SIZE + 24}",')]
    assert all(line.startswith('{"id":"synth-3-') and line.endswith("}") for line in lines)


def test_no_cases_is_an_empty_file() -> None:
    """A count of 0 yields nothing."""
    assert b"" == b"".join(synthesise_jsonl(0, 1))


def test_write_cases_streams_the_same_bytes_to_a_file(tmp_path: Path) -> None:
    """``write_cases`` writes exactly the chunks ``synthesise_jsonl`` yields."""
    target = tmp_path / "cases.jsonl"
    with target.open("wb") as handle:
        write_cases(handle, 300, 9, 0.1)

    assert b"".join(synthesise_jsonl(300, 9, 0.1)) == target.read_bytes()


# -- coverage of the case format ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "shape", "required"), list(members(CASE_SHAPE)), ids=[path for path, _, _ in members(CASE_SHAPE)]
)
def test_every_member_appears_known_and_unknown(path: str, shape: Shape, required: bool) -> None:
    """Each member of the case format is given in the sample; an optional one is also left out and null
    (the id, always given, excepted); a required one never is."""
    values = values_at(path)
    known = [value for value in values if value is not ... and value is not None]

    assert known, f"{path} never given"
    if required:
        assert len(known) == len(values), f"{path} is required but left out or null"
    elif path != "id":
        assert ... in values, f"{path} is never left out"
        assert None in values, f"{path} is never null"


def is_enum(shape: Shape) -> bool:
    """A choice, a yes/no, or a list of choices."""
    return isinstance(shape, Choice | Boolean) or (
        isinstance(shape, ListOf) and isinstance(shape.item, Choice)
    )


@pytest.mark.parametrize(
    ("path", "shape"),
    [(path, shape) for path, shape, _ in members(CASE_SHAPE) if is_enum(shape)],
    ids=[path for path, shape, _ in members(CASE_SHAPE) if is_enum(shape)],
)
def test_every_enum_value_and_every_yes_no_appears(path: str, shape: Shape) -> None:
    """Each value of a choice (levels included), true and false of each yes/no, and each item of a list of
    choices (and the empty list) occur in the sample."""
    values = values_at(path)
    if isinstance(shape, Boolean):
        expected: set[object] = {True, False}
        seen: set[object] = set(values)
    elif isinstance(shape, Choice):
        expected, seen = set(shape.values), set(values)
    else:
        assert isinstance(shape, ListOf) and isinstance(shape.item, Choice)
        expected = {*shape.item.values, "[]"}
        seen = {item for value in values if isinstance(value, list) for item in value}
        seen |= {"[]" for value in values if value == []}

    assert expected <= seen, f"{path}: never {sorted(map(str, expected - seen))}"


def test_fractures_are_mostly_one_to_three_at_distinct_levels_concentrated_at_the_junction() -> None:
    """Most cases have 1 to 3 fractures, some more; levels within a case are distinct and listed skull
    down; T11 to L2 hold most of them."""
    counts = Counter(len(case["fractures"]) for case in sample())
    levels = [fracture["level"] for case in sample() for fracture in case["fractures"]]

    assert sum(counts[n] for n in (1, 2, 3)) > 0.85 * SAMPLE_SIZE
    assert max(counts) > 4
    for case in sample():
        order = [LEVELS.index(fracture["level"]) for fracture in case["fractures"]]
        assert sorted(set(order)) == order
    assert sum(level in ("T11", "T12", "L1", "L2") for level in levels) > 0.5 * len(levels)


def test_height_loss_is_given_as_percent_as_morphometry_as_both_and_not_at_all() -> None:
    """Fractures give the height loss as a percentage only, as morphometry only, as both, or neither."""
    kinds = Counter(
        ("height_loss_percent" in fracture, "morphometry_mm" in fracture)
        for case in sample()
        for fracture in case["fractures"]
    )

    assert {(True, False), (False, True), (True, True), (False, False)} == set(kinds)


def test_when_both_are_given_they_mostly_agree_and_sometimes_differ_by_more_than_5_points() -> None:
    """The percentage given beside morphometry is close to the morphometry's height loss, but some
    fractures disagree by more than 5 points, so that the disagreement report is exercised."""
    gaps = []
    for case in sample():
        for fracture in case["fractures"]:
            heights, percent = fracture.get("morphometry_mm"), fracture.get("height_loss_percent")
            if isinstance(heights, dict) and percent is not None:
                expected = max(heights["posterior"], heights["reference_posterior"])
                smallest = min(heights["anterior"], heights["middle"], heights["posterior"])
                gaps.append(abs(100 * (1 - smallest / expected) - percent))

    assert 0 < sum(gap > 5 for gap in gaps) < 0.25 * len(gaps)


def test_the_sample_is_mostly_older_women_with_osteoporotic_fractures_and_reported_edema() -> None:
    """The marginals look like the profile says: mostly women over 65, osteoporotic causes, MRI reported."""
    patients = [case["patient"] for case in sample()]
    fractures = [fracture for case in sample() for fracture in case["fractures"]]

    assert sum(p.get("sex") == "female" for p in patients) > 0.6 * len(patients)
    assert sum(p["age"] >= 65 for p in patients) > 0.7 * len(patients)
    assert sum(f.get("cause") == "osteoporotic" for f in fractures) > 0.7 * len(fractures)
    assert sum(f.get("mri_edema") is not None for f in fractures) > 0.8 * len(fractures)


def test_the_cases_lead_to_every_decision() -> None:
    """Assessed, a sample of 1,500 cases reaches each of the seven decisions."""
    decisions = Counter(assess(case)["decision"] for case in sample()[:1500])

    assert set(DECISIONS) == set(decisions), decisions


# -- invalid lines -------------------------------------------------------------------------------------


def rejection(line: str) -> str | None:
    """Why the case model rejects a line (``json`` when it is not JSON), or None when it is valid."""
    try:
        document = json.loads(line)
    except json.JSONDecodeError:
        return "json"
    try:
        parse_case(document)
    except InvalidCase as error:
        return "; ".join(f"{path}: {message}" for path, message in error.problems)
    return None


def test_the_invalid_fraction_of_lines_is_rejected_and_the_rest_is_valid() -> None:
    """With a fraction of 0.1, exactly a tenth of the lines (rounded) are rejected, every one of them."""
    lines = list(synthesise_cases(700, 5, 0.1))
    reasons = [rejection(line) for line in lines]

    assert 700 == len(lines)
    assert 70 == invalid_line_count(700, 0.1) == sum(reason is not None for reason in reasons)


def test_invalid_lines_are_broken_in_every_kind_of_way() -> None:
    """Unknown keys, numbers out of range, bad and repeated levels, wrong types, malformed JSON and empty
    lines all occur, each rejected."""
    lines = list(synthesise_cases(350, 6, 0.2))
    reasons = [reason for reason in map(rejection, lines) if reason is not None]
    text = "\n".join(reasons)

    assert 7 == len(INVALID_KINDS)
    assert "unknown field" in text
    assert "out of range" in text
    assert "is not a vertebral level" in text
    assert "is listed twice" in text
    assert "is not a whole number" in text
    assert "" in lines
    assert sum(reason == "json" for reason in reasons) > lines.count("")


def test_a_fraction_of_one_breaks_every_line() -> None:
    """``invalid_fraction=1`` makes every line invalid."""
    assert all(rejection(line) is not None for line in synthesise_cases(60, 1, 1.0))


@pytest.mark.parametrize(
    ("count", "seed", "fraction"), [(-1, 0, 0.0), (5, -1, 0.0), (5, 0, 1.5), (5, 0, -0.1), (True, 0, 0.0)]
)
def test_bad_arguments_raise_value_error(count: int, seed: int, fraction: float) -> None:
    """A negative count or seed, or a fraction outside 0 to 1, is refused before anything is drawn."""
    with pytest.raises(ValueError):
        next(synthesise_jsonl(count, seed, fraction))


# -- the profile ---------------------------------------------------------------------------------------


def test_the_profile_says_it_is_illustrative() -> None:
    """The distribution settings are labelled illustrative: for demos, tests and benchmarks."""
    header = PROFILE_FILE.read_text("utf-8")[:1200]

    assert "ILLUSTRATIVE ONLY" in header
    assert "NOT epidemiology" in header


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("sex: {kind: choice, values: {female: 72", "sex: {kind: choice, values: {femme: 72", "patient.sex"),
        ("    min: 18\n", "    min: 12\n", "patient.age"),
        ("  rdq:\n", "  rdq_score:\n", "pain"),
        ("nrs:\n    kind: number", "nrs:\n    absent: 0.1\n    kind: number", "pain.nrs"),
        ("items: {analgesics: 0.9", "items: {massage: 0.9", "conservative_care.modalities"),
    ],
    ids=["unknown value", "range too wide", "unknown member", "required member left out", "unknown item"],
)
def test_a_profile_that_could_give_invalid_cases_is_refused(
    tmp_path: Path, old: str, new: str, named: str
) -> None:
    """A value the case format does not accept, a range outside it, an unknown member, or a required member
    left out: the profile does not load, and the error names the member."""
    text = PROFILE_FILE.read_text("utf-8")
    assert old in text
    broken = tmp_path / "profile.yaml"
    broken.write_text(text.replace(old, new, 1), "utf-8")

    with pytest.raises(ProfileError, match=named.replace(".", r"\.")):
        load_profile(broken)


# -- the command line ----------------------------------------------------------------------------------


def run(*args: str) -> Any:
    """Run the command line in-process and return Typer's result."""
    return RUNNER.invoke(app, list(args))


def test_synth_writes_the_file_and_says_so(tmp_path: Path) -> None:
    """Exit 0; the file holds exactly the generator's bytes; one summary line on standard error."""
    target = tmp_path / "cases.jsonl"

    result = run("synth", "250", "-o", str(target), "--seed", "4", "--invalid-fraction", "0.04")

    assert 0 == result.exit_code, result.output
    assert b"".join(synthesise_jsonl(250, 4, 0.04)) == target.read_bytes()
    assert "" == result.stdout
    assert (
        f"vertaid: wrote 250 synthetic cases to {target}, 10 of them deliberately invalid\n" == result.stderr
    )
    assert ["cases.jsonl"] == sorted(path.name for path in tmp_path.iterdir())


def test_synth_writes_to_standard_output_with_a_dash() -> None:
    """``-o -`` streams the lines to standard output; the seed defaults to 0."""
    result = run("synth", "20", "-o", "-")

    assert 0 == result.exit_code
    assert b"".join(synthesise_jsonl(20, 0)).decode() == result.stdout


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["abc"], "N must be a whole number"),
        (["1.5"], "N must be a whole number"),
        (["5", "--seed", "x"], "the seed must be a whole number"),
        (["5", "--seed", "-3"], "the seed must be a whole number"),
        (["5", "--invalid-fraction", "1.5"], "the invalid fraction must be from 0 to 1"),
        (["5", "--invalid-fraction", "nan"], "the invalid fraction must be from 0 to 1"),
        (["5", "--invalid-fraction", "lots"], "the invalid fraction must be from 0 to 1"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path: Path, args: list[str], reason: str) -> None:
    """A count, seed or fraction that is not one exits 2 with a one-line reason, writing nothing."""
    target = tmp_path / "cases.jsonl"

    result = run("synth", *args, "-o", str(target))

    assert 2 == result.exit_code
    assert reason in result.stderr
    assert 1 == len(result.stderr.splitlines())
    assert [] == list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("where", "reason"), [("missing/cases.jsonl", "no such directory"), ("", "is a directory")]
)
def test_an_output_that_cannot_be_written_exits_2(tmp_path: Path, where: str, reason: str) -> None:
    """A missing directory or a directory as the output: exit 2, one line naming the reason, no file."""
    target = tmp_path / where if where else tmp_path

    result = run("synth", "5", "-o", str(target))

    assert 2 == result.exit_code
    assert f"vertaid: cannot write {target}: {reason}\n" == result.stderr
    assert [] == list(tmp_path.iterdir())


def test_assess_does_not_load_numpy_or_the_generator() -> None:
    """``vertaid assess`` imports neither NumPy nor the cohort package: its start-up time does not grow."""
    case_file = str(Path(__file__).parents[1] / "examples" / "02-collapse-over-30.json")
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from vertaid.cli._app import app\n"
        f"result = CliRunner().invoke(app, ['assess', {case_file!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in ('numpy', 'polars', 'vertaid.cohort') if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )

    assert "[]" == loaded.stdout.strip()
