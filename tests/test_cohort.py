"""Cohorts: the columnar engine gives what ``vertaid.assess`` gives, and no line is lost (CONTRACT §6)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import hypothesis.strategies as st
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

import vertaid
from tests.test_properties import ANY_CASE
from vertaid.cli._app import app
from vertaid.cohort import FLAT_COLUMNS, assess_cohort, assess_lines
from vertaid.cohort._batch import _assess_one, _json_document, assess_text
from vertaid.cohort._flat import strip_nulls
from vertaid.cohort._json_lines import chunk_lines, file_chunks, joined_texts, read_lines
from vertaid.cohort._layout import CASE_DTYPE
from vertaid.cohort._policy import assess_columns
from vertaid.domain.case import parse_case
from vertaid.domain.engine import fired_rules
from vertaid.knowledge import default_pack

VIGNETTES: Final = sorted((Path(__file__).parent / "vignettes").glob("*.json"))
PACK: Final = default_pack()
RESULT: Final = ("decision", "strength", "score", "target_levels", "lcd_coverage_met", "worst_genant_grade")


def expected(case: dict[str, Any]) -> dict[str, Any]:
    """What ``vertaid.assess`` says of a case, in the cohort's columns."""
    assessment = vertaid.assess(case)
    grades = [f["genant_grade"] for f in assessment["fractures"] if f["genant_grade"] is not None]
    return {
        "decision": assessment["decision"],
        "strength": assessment["strength"],
        "score": assessment["score"],
        "target_levels": assessment["target_levels"],
        "lcd_coverage_met": assessment["coverage"]["medicare_lcd"]["met"],
        "worst_genant_grade": max(grades) if grades else None,
        "rules_fired": fired_rules(parse_case(case), PACK),
    }


def columnar(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decide valid cases with the columnar engine alone (no fallback to the per-case engine)."""
    read, frame = read_lines(joined_texts([json.dumps(case) for case in cases]))
    assert read.all(), "Arrow's reader must read valid cases"
    rows = assess_columns(frame, PACK, explain=True)
    assert rows.get_column("_admitted").all(), "valid cases must pass the columns' checks"
    return rows.to_dicts()


def as_lines(texts: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"line_number": list(range(1, len(texts) + 1)), "line": texts},
        schema={"line_number": pl.Int64, "line": pl.String},
    )


def one_by_one(texts: list[str]) -> list[dict[str, Any]]:
    """Each line through the case model and the per-case engine: the reference for every line."""
    schema = list(assess_lines(as_lines([]), PACK, explain=True).columns)
    return [
        dict(zip(schema, _assess_one(number, text, PACK, True, _json_document), strict=True))
        for number, text in enumerate(texts, start=1)
    ]


def test_every_vignette_gets_the_same_answer_from_the_columnar_engine() -> None:
    """Decision, strength, score, target levels, coverage, worst Genant grade and fired rules of each
    vignette match the per-case engine, field for field."""
    cases = [json.loads(path.read_text())["case"] for path in VIGNETTES]
    for case, row in zip(cases, columnar(cases), strict=True):
        assert not row["_rounding_unsure"]
        assert expected(case) == {key: row[key] for key in (*RESULT, "rules_fired")}, case.get("id")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(st.lists(ANY_CASE, min_size=20, max_size=40))
def test_generated_cases_get_the_same_answer_from_the_columnar_engine(cases: list[dict[str, Any]]) -> None:
    """For thousands of generated valid cases (unknowns absent or null, several fractures, morphometry),
    the columnar engine equals ``vertaid.assess`` field for field."""
    for case, row in zip(cases, columnar(cases), strict=True):
        if row["_rounding_unsure"]:
            continue  # decided one by one by the batch function; checked below
        assert expected(case) == {key: row[key] for key in (*RESULT, "rules_fired")}


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(st.lists(ANY_CASE, min_size=10, max_size=30))
def test_a_batch_of_lines_gives_what_each_line_gives_alone(cases: list[dict[str, Any]]) -> None:
    """The batch function (columns where they can vouch, the case model otherwise) gives every line the
    row the case model and the per-case engine give it alone."""
    texts = [json.dumps(case, ensure_ascii=bool(i % 2)) for i, case in enumerate(cases)]
    assert one_by_one(texts) == assess_lines(as_lines(texts), PACK, explain=True).to_dicts()


def _objects(case: dict[str, Any]) -> list[dict[str, Any]]:
    found = [case]
    for value in case.values():
        if isinstance(value, dict):
            found.extend(_objects(value))
        elif isinstance(value, list):
            found.extend(item for item in value if isinstance(item, dict))
            for item in value:
                if isinstance(item, dict):
                    found.extend(_objects(item)[1:])
    return found


_KEYS: Final = sorted(
    {name.split(".")[-1] for name in FLAT_COLUMNS} | {"level", "cause", "mri_edema", "anterior"}
)


@st.composite
def mangled_line(draw: st.DrawFn) -> str:
    """A case's JSON text with one thing wrong or unusual: an unknown, misplaced or repeated key (with a
    value or null), a value of the wrong type, an id that looks like a number, or escapes; sometimes
    with an object's keys in reverse order."""
    case = draw(ANY_CASE)
    objects = _objects(case)
    target = draw(st.sampled_from(objects))
    kind = draw(st.sampled_from(["key", "misplaced", "repeat", "type", "id", "escape"]))
    if draw(st.booleans()):  # keys out of the case model's order take the slower, general check
        for member in list(target)[::-1]:
            target[member] = target.pop(member)
    value: Any = draw(st.sampled_from([None, 1, 2.5, "x", True, [], {}]))
    text = json.dumps(case)
    if kind == "key":
        target[draw(st.sampled_from(["agee", "levl", "foo", "Age", ""]))] = value
    elif kind == "misplaced":
        target[draw(st.sampled_from(_KEYS))] = value
    elif kind == "type" and target:
        target[draw(st.sampled_from(sorted(target)))] = value
    elif kind == "id":
        case["id"] = draw(st.sampled_from([12, "12", "true", True, "a:b", "null", None]))
    elif kind == "escape":
        case["id"] = draw(st.sampled_from(['a"b', "a\\b", "é", '"x": null']))
    if kind == "repeat" and target:
        # json.dumps cannot repeat a key: write the object's text with one member given twice.
        key = draw(st.sampled_from(sorted(target)))
        marker = "__repeat_marker__"
        target[marker] = value
        text = json.dumps(case).replace(f'"{marker}"', json.dumps(key), 1)
        return text
    return json.dumps(case, ensure_ascii=draw(st.booleans()))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(st.lists(mangled_line(), min_size=10, max_size=30))
def test_unusual_or_invalid_lines_get_the_case_models_answer(texts: list[str]) -> None:
    """An unknown, misplaced or repeated key, a wrong type, a numeric id or escapes never slip through the
    columns: every line gets exactly what the case model and the per-case engine give it."""
    assert one_by_one(texts) == assess_lines(as_lines(texts), PACK, explain=True).to_dicts()


def test_a_key_repeated_beside_the_fractures_is_seen() -> None:
    """A case key given again after the fractures (``"fractures": null`` at the end, or a member of a
    record repeated with null) gets the case model's answer: the case model keeps the last of repeated
    keys, the decoder the first, so the columns must not vouch for the line."""
    case = json.loads(VIGNETTES[1].read_text())["case"]
    text = json.dumps(case)
    texts = [
        text[:-1] + ', "fractures": null}',
        text[:-1] + ', "pain": null}',
        json.dumps({"preferences": {}, **case})[:-1] + ', "fractures": null}',
    ]
    assert one_by_one(texts) == assess_lines(as_lines(texts), PACK, explain=True).to_dicts()


def _chunked(texts: list[str], lines_per_chunk: int, tmp_path: Path, end: str = "\n") -> list[dict[str, Any]]:
    """The rows the file engine's batch function gives ``texts`` written as a file and read in chunks."""
    source = tmp_path / "lines.jsonl"
    source.write_bytes(("\n".join(texts) + end).encode("utf-8"))
    batches = [assess_text(chunk, PACK, explain=True) for chunk in file_chunks(source, lines_per_chunk)]
    return pl.concat(batches).to_dicts() if batches else []


@st.composite
def awkward_line(draw: st.DrawFn) -> str:
    """A line as a file may hold it: a case (sometimes mangled), with spaces or a carriage return
    around it, two cases on one line, a case followed by text, an unknown key given only as null, or a
    blank line."""
    case = draw(ANY_CASE)
    text = json.dumps(case, separators=(",", ":") if draw(st.booleans()) else None)
    kind = draw(st.sampled_from(["plain", "mangled", "padded", "two", "trailing", "unknown_null", "blank"]))
    if kind == "mangled":
        return draw(mangled_line())
    if kind == "padded":
        return draw(st.sampled_from([" ", "\t", ""])) + text + draw(st.sampled_from([" ", "\r", "\t\r"]))
    if kind == "two":
        return text + draw(st.sampled_from(["", " "])) + text
    if kind == "trailing":
        return text + draw(st.sampled_from(["}", " x", ",", "\x00"]))
    if kind == "unknown_null":
        record = draw(st.sampled_from(_objects(case)))
        record["notes"] = None
        return json.dumps(case)
    if kind == "blank":
        return draw(st.sampled_from(["", " ", "\r", "\t"]))
    return text


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(st.lists(awkward_line(), min_size=1, max_size=40), st.integers(1, 12), st.sampled_from(["\n", ""]))
def test_a_file_read_in_chunks_gives_every_line_what_the_case_model_gives_it(
    tmp_path_factory: pytest.TempPathFactory, texts: list[str], lines_per_chunk: int, end: str
) -> None:
    """Read from a file in chunks of whole lines, through Arrow's reader where it vouches for lines,
    every line (two cases on one line, trailing text, unknown keys given only as null, blank lines,
    carriage returns, a last line without a line break) gets the row the case model and the per-case
    engine give it alone, with its own line number."""
    rows = _chunked(texts, lines_per_chunk, tmp_path_factory.mktemp("chunks"), end)
    assert one_by_one([text.removesuffix("\r") for text in texts]) == rows


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab{}\r ", max_size=6), max_size=30), st.integers(1, 8), st.booleans())
def test_a_file_is_cut_into_the_lines_polars_reads(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], lines_per_chunk: int, final_break: bool
) -> None:
    """Chunks hold whole lines, at most as many as asked, numbered from 1 across chunks; their lines
    (without ``\\r\\n``) are exactly the lines Polars reads from the file, the last one included when
    it has no line break."""
    source = tmp_path_factory.mktemp("cut") / "lines.jsonl"
    source.write_bytes(("\n".join(lines) + ("\n" if final_break and lines else "")).encode())
    read: list[str] = []
    for index, chunk in enumerate(file_chunks(source, lines_per_chunk)):
        assert chunk.first_line == 1 + index * lines_per_chunk
        assert len(chunk.breaks) <= lines_per_chunk
        starts, ends, _ = chunk_lines(chunk)
        read += [chunk.text[start:end].tobytes().decode() for start, end in zip(starts, ends, strict=True)]
    assert pl.scan_lines(source).collect().get_column("line").to_list() == read


def test_a_batch_with_many_refused_lines_reads_the_rest_by_columns() -> None:
    """A batch where lines with an unknown key, a repeated key or a value of the wrong kind are spread
    among valid ones still gets every line's own answer, and the valid lines are read by columns (the
    reader's refusals are found line by line, not by giving up on the batch)."""
    case = json.loads(VIGNETTES[1].read_text())["case"]
    good = json.dumps(case)
    bad = [
        good.replace('"patient": {', '"patient": {"weight": 61, ', 1),
        good.replace('"patient": {', '"patient": {"weight": null, ', 1),
        good[:-1] + ', "pain": null}',
        good.replace('"nrs": ', '"nrs": true, "x": ', 1),
    ]
    texts = [bad[i // 7 % len(bad)] if i % 7 == 3 else good for i in range(140)]
    lines = joined_texts(texts)
    read, _ = read_lines(lines)
    assert [text == good for text in texts] == read.tolist()
    assert one_by_one(texts) == assess_lines(as_lines(texts), PACK, explain=True).to_dicts()


def test_malformed_lines_are_reported_with_their_line_numbers(tmp_path: Path) -> None:
    """Blank lines, text that is not JSON, a JSON array and an invalid case are each rejected with their
    own line number and reasons; the valid lines around them are assessed; none is dropped."""
    case = json.loads(VIGNETTES[0].read_text())["case"]
    lines = [
        json.dumps(case),
        "",
        "not json",
        "[1, 2]",
        json.dumps({**case, "patient": {"age": 9}}),
        json.dumps(case),
    ]
    source = tmp_path / "cases.jsonl"
    source.write_text("\n".join(lines) + "\n")
    summary = assess_cohort(source, tmp_path / "out.parquet", PACK, batch_size=2)
    results = pl.read_parquet(tmp_path / "out.parquet")
    rejects = [json.loads(line) for line in (tmp_path / "out.parquet.rejects.jsonl").read_text().splitlines()]
    assert (summary.assessed, summary.rejected) == (2, 4)
    assert [1, 6] == results["line_number"].to_list()
    assert [2, 3, 4, 5] == [reject["line_number"] for reject in rejects]
    assert "the line is empty" == rejects[0]["reasons"]
    assert rejects[1]["reasons"].startswith("the line is not JSON")
    assert "$: a list is not an object" == rejects[2]["reasons"]
    assert rejects[3]["reasons"].startswith("patient.age: ")


def _flat_frame(cases: list[dict[str, Any]]) -> pl.DataFrame:
    decoded = pl.DataFrame({"line": [json.dumps(case) for case in cases]}).select(
        pl.col("line").str.json_decode(CASE_DTYPE).alias("case")
    )
    columns = []
    for name in FLAT_COLUMNS:
        record, _, member = name.partition(".")
        value = pl.col("case").struct.field(record)
        columns.append((value.struct.field(member) if member else value).alias(name))
    return decoded.select(columns)


def test_parquet_and_csv_in_the_flat_layout_give_what_json_lines_give(tmp_path: Path) -> None:
    """The same cases as JSON Lines, as Parquet (typed, fractures a list of structs) and as CSV (lists as
    JSON text) give the same rows."""
    cases = [json.loads(path.read_text())["case"] for path in VIGNETTES]
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(case) + "\n" for case in cases))
    flat = _flat_frame(cases)
    flat.write_parquet(tmp_path / "cases.parquet")
    as_text = flat.with_columns(
        pl.col(name).map_elements(lambda v: json.dumps(strip_nulls(v.to_list())), return_dtype=pl.String)
        for name, dtype in flat.schema.items()
        if isinstance(dtype, pl.List)
    )
    as_text.write_csv(tmp_path / "cases.csv")
    rows = {}
    for source in ("cases.jsonl", "cases.parquet", "cases.csv"):
        assess_cohort(tmp_path / source, tmp_path / f"{source}.out.parquet", PACK)
        rows[source] = pl.read_parquet(tmp_path / f"{source}.out.parquet").drop("line_number").to_dicts()
    assert rows["cases.jsonl"] == rows["cases.parquet"] == rows["cases.csv"]
    assert [expected(case)["decision"] for case in cases] == [row["decision"] for row in rows["cases.jsonl"]]


def test_a_column_outside_the_layout_is_refused_by_name(tmp_path: Path) -> None:
    """A CSV or Parquet column the layout does not name (a misspelt member) stops the run with exit 2 and
    the column's name: it would otherwise be ignored on every row."""
    pl.DataFrame({"patient.agee": [80]}).write_csv(tmp_path / "bad.csv")
    result = CliRunner().invoke(app, ["cohort", str(tmp_path / "bad.csv"), "-o", str(tmp_path / "o.parquet")])
    assert 2 == result.exit_code
    assert "'patient.agee' is not in the flat case layout" in result.output
    assert not (tmp_path / "o.parquet").exists()


def test_the_command_writes_results_rejects_and_a_summary(tmp_path: Path) -> None:
    """``vertaid cohort`` writes the Parquet results, the rejects file and ``--summary-json``, prints how
    many were assessed and rejected, and exits 0."""
    case = json.loads(VIGNETTES[1].read_text())["case"]
    source = tmp_path / "cases.jsonl"
    source.write_text(json.dumps(case) + "\n{}\n")
    out = tmp_path / "out.parquet"
    result = CliRunner().invoke(
        app, ["cohort", str(source), "-o", str(out), "--explain", "--summary-json", str(tmp_path / "s.json")]
    )
    assert 0 == result.exit_code, result.output
    assert "1 assessed, 1 rejected" in result.output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert {"assessed": 1, "rejected": 1} == {k: summary[k] for k in ("assessed", "rejected")}
    assert {expected(case)["decision"]: 1} == summary["decisions"]
    row = pl.read_parquet(out).to_dicts()[0]
    assert expected(case)["rules_fired"] == row["rules_fired"]


def test_an_unreadable_input_exits_2_with_one_line() -> None:
    """A missing input file or an unknown format is exit 2 with a one-line reason, not a traceback."""
    for source in ("missing.jsonl", "cases.xlsx"):
        result = CliRunner().invoke(app, ["cohort", source, "-o", "out.parquet"])
        assert 2 == result.exit_code
        assert "Traceback" not in result.output
        assert 1 == len(result.output.strip().splitlines())


_MEMORY_SCRIPT: Final = """
import json, resource, sys
from pathlib import Path
from vertaid.cohort import assess_cohort
from vertaid.knowledge import default_pack
source, count = Path(sys.argv[1]), int(sys.argv[2])
line = Path(sys.argv[3]).read_text().strip()
with source.open("w") as handle:
    for _ in range(count):
        handle.write(line + "\\n")
assess_cohort(source, source.with_suffix(".parquet"), default_pack(), batch_size=5000)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_memory_stays_flat_as_the_input_grows(tmp_path: Path) -> None:
    """Peak memory of a run over 160,000 cases is within 25% of the peak over 20,000: input is streamed
    in batches, never held whole (the 10-million-case run is a benchmark: bench/cohort.py)."""
    case = json.loads(VIGNETTES[1].read_text())["case"]
    (tmp_path / "case.json").write_text(json.dumps(case))
    peaks = []
    for count in (20_000, 160_000):
        run = subprocess.run(
            [
                sys.executable,
                "-c",
                _MEMORY_SCRIPT,
                str(tmp_path / f"c{count}.jsonl"),
                str(count),
                str(tmp_path / "case.json"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks.append(int(run.stdout.strip()))
    assert peaks[1] < peaks[0] * 1.25, peaks
