"""The Spark cohort engine gives the Polars engine's rows, line for line, and numbers lines as the file does.

One local Spark session (two cores) serves the module, and one cohort run serves most tests: Spark's
start-up is most of the module's time.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from vertaid.cohort import CohortInputError, assess_lines, output_schema
from vertaid.cohort import _spark as spark_engine
from vertaid.knowledge import default_pack

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

VIGNETTES = sorted((Path(__file__).parent / "vignettes").glob("*.json"))


def _vignette_cases() -> list[dict[str, Any]]:
    return [json.loads(path.read_text(encoding="utf-8"))["case"] for path in VIGNETTES]


def _cohort_lines() -> list[str]:
    """The twenty vignettes, one per line, among lines the case model rejects for different reasons."""
    cases = _vignette_cases()
    unknown_key = {**cases[0], "colour": "blue"}
    out_of_range = json.loads(json.dumps(cases[1]))
    out_of_range["pain"]["nrs"] = 11
    accented = {**cases[2], "id": "patient-é-ü-中"}
    lines = [json.dumps(case) for case in cases[:10]]
    lines += ["", "   ", "{not json", json.dumps(unknown_key), json.dumps(out_of_range), "[1, 2]"]
    lines += [json.dumps(case) for case in cases[10:]]
    lines += [json.dumps(accented), ""]
    return lines


def _polars_rows(lines: list[str], *, explain: bool = False) -> pl.DataFrame:
    """The reference: the batch function run directly on the lines, numbered from 1."""
    frame = pl.DataFrame(
        {"line_number": range(1, len(lines) + 1), "line": lines},
        schema={"line_number": pl.Int64, "line": pl.String},
    )
    return assess_lines(frame, default_pack(), explain=explain)


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    """One local session on two cores for the module. Files are read in splits of 4 KiB, so even small
    files are numbered across splits that cut lines in two, and Arrow batches hold 7 lines, so a
    partition's lines reach the batch function in several batches."""
    pytest.importorskip("pyspark")
    session = spark_engine.spark_session(
        "local[2]",
        {
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.sql.files.maxPartitionBytes": "4k",
            "spark.sql.execution.arrow.maxRecordsPerBatch": "7",
        },
        app_name="vertaid tests",
    )
    yield session
    session.stop()


@dataclass(frozen=True)
class Run:
    lines: list[str]
    summary: spark_engine.SparkCohortSummary
    output: Path
    rejects: Path


@pytest.fixture(scope="module")
def run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The cohort run by the Spark engine, from a file of three splits or more."""
    directory = tmp_path_factory.mktemp("spark-cohort")
    lines = _cohort_lines()
    source = directory / "cases.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = directory / "results.parquet"
    assert source.stat().st_size > 2 * 4096
    summary = spark_engine.assess_with_spark(str(source), str(output), spark=spark)
    return Run(lines, summary, output, Path(summary.rejects))


def test_assessed_rows_equal_the_polars_engines_field_for_field(run: Run) -> None:
    """Every assessed row of the Spark engine's Parquet equals the batch function's, in line order."""
    expected = _polars_rows(run.lines).filter(pl.col("rejected").is_null()).drop("rejected")

    actual = pl.read_parquet(run.output / "*.parquet")

    assert 21 == expected.height
    assert_frame_equal(expected, actual)


def test_rejected_lines_keep_their_numbers_and_reasons(run: Run) -> None:
    """Blank, malformed, unknown-key and out-of-range lines are rejected with the file's line numbers,
    the case ids and the reasons the batch function gives; the trailing blank line is one of them."""
    expected = (
        _polars_rows(run.lines)
        .filter(pl.col("rejected").is_not_null())
        .select("line_number", "case_id", pl.col("rejected").alias("reasons"))
    )
    part_files = sorted(run.rejects.glob("part-*.json"))

    records = [json.loads(line) for path in part_files for line in path.read_text("utf-8").splitlines()]

    assert 1 == len(part_files)
    assert expected.to_dicts() == records
    assert [11, 12, 13, 14, 15, 16, 28] == [record["line_number"] for record in records]


def test_summary_counts_what_was_written(run: Run) -> None:
    """The summary's counts of assessed and rejected lines, decisions and coverage are the rows'."""
    expected = _polars_rows(run.lines)
    assessed = expected.filter(pl.col("rejected").is_null())
    rejected = expected.filter(pl.col("rejected").is_not_null())

    summary = run.summary

    assert (assessed.height, rejected.height) == (summary.assessed, summary.rejected)
    assert Counter(assessed["decision"].to_list()) == summary.decisions
    assert assessed["lcd_coverage_met"].sum() == summary.coverage_met
    assert rejected.select("line_number", "case_id", "rejected").rows() == summary.first_rejects


def test_written_schema_is_the_batch_functions(run: Run) -> None:
    """The Parquet output has the columns and types of ``output_schema``, less ``rejected``."""
    expected = {name: dtype for name, dtype in output_schema(False).items() if name != "rejected"}

    assert expected == dict(pl.read_parquet_schema(next(run.output.glob("*.parquet"))))


def test_explained_rows_equal_the_polars_engines(spark: SparkSession) -> None:
    """With ``explain``, the Spark engine's rows, rejected ones and fired rules included, equal the batch
    function's."""
    lines = _cohort_lines()
    numbered = spark.createDataFrame(list(enumerate(lines, start=1)), "line_number long, line string")

    rows = spark_engine.assess_spark_lines(numbered.repartition(3), explain=True)

    actual = pl.DataFrame(
        [row.asDict() for row in rows.orderBy("line_number").collect()], schema=output_schema(True)
    )
    assert_frame_equal(_polars_rows(lines, explain=True), actual)


def test_spark_schema_is_derived_from_the_output_schema() -> None:
    """The Spark schema names the output schema's columns in order, with and without ``explain``."""
    pytest.importorskip("pyspark")
    for explain in (False, True):
        assert list(output_schema(explain)) == spark_engine.spark_output_schema(explain).names


def test_line_numbers_are_the_files_across_splits(spark: SparkSession, tmp_path: Path) -> None:
    """Lines read in many splits keep the file's line numbers, blank lines included; a line ends at
    ``\\n`` less a ``\\r`` before it, as the Polars engine reads lines; ``partitions`` spreads them in
    line order."""
    lines = [f"line {number}" if number % 5 else "" for number in range(1, 3001)]
    lines[6] = "carriage\rreturn"
    source = tmp_path / "lines.txt"
    source.write_bytes(("\r\n".join(lines) + "\n").encode())
    expected = list(enumerate(lines, start=1))

    numbered = spark_engine.numbered_lines(spark, str(source))
    spread = spark_engine.numbered_lines(spark, str(source), partitions=5)

    assert numbered.rdd.getNumPartitions() >= 6
    assert expected == [tuple(row) for row in numbered.orderBy("line_number").collect()]
    assert expected == [tuple(row) for row in spread.collect()]
    assert 5 == spread.rdd.getNumPartitions()


def test_a_directory_is_numbered_as_its_files_in_path_order(spark: SparkSession, tmp_path: Path) -> None:
    """The files of a directory are numbered one after another, in path order, as one text."""
    (tmp_path / "b.jsonl").write_text("b1\nb2\n", encoding="utf-8")
    (tmp_path / "a.jsonl").write_text("a1\n\na3\n", encoding="utf-8")

    numbered = spark_engine.numbered_lines(spark, str(tmp_path))

    expected = [(1, "a1"), (2, ""), (3, "a3"), (4, "b1"), (5, "b2")]
    assert expected == [tuple(row) for row in numbered.orderBy("line_number").collect()]


def test_an_existing_output_is_not_overwritten_unless_asked(spark: SparkSession, tmp_path: Path) -> None:
    """A run into an existing output fails before Spark runs anything, and replaces it with
    ``overwrite``."""
    source = tmp_path / "one.jsonl"
    source.write_text(json.dumps(_vignette_cases()[0]) + "\n", encoding="utf-8")
    output = tmp_path / "results.parquet"
    output.mkdir()
    (output / "earlier.parquet").write_bytes(b"not ours")

    with pytest.raises(CohortInputError, match=r"results\.parquet exists"):
        spark_engine.assess_with_spark(source, output, spark=spark)
    assert ["earlier.parquet"] == [path.name for path in output.iterdir()]
    summary = spark_engine.assess_with_spark(source, output, spark=spark, overwrite=True)

    assert (1, 0) == (summary.assessed, summary.rejected)
    assert 1 == pl.read_parquet(output / "*.parquet").height


@pytest.mark.parametrize(
    ("name", "message"),
    [("cases.csv", "reads JSON Lines; use the Polars engine for csv"), ("missing.jsonl", "no such file")],
)
def test_inputs_the_engine_cannot_read_are_refused_in_one_line(
    name: str, message: str, tmp_path: Path
) -> None:
    """CSV (or Parquet) input and a missing file are refused with a one-line reason, before Spark starts."""
    if name.endswith(".csv"):
        (tmp_path / name).write_text("id\n", encoding="utf-8")

    with pytest.raises(CohortInputError, match=message):
        spark_engine.assess_with_spark(tmp_path / name, tmp_path / "results.parquet")


def test_another_pack_is_sent_to_the_executors(spark: SparkSession) -> None:
    """A pack other than the shipped one goes to the executors with the tasks, and decides there."""
    lines = [json.dumps(case) for case in _vignette_cases()[:4]]
    numbered = spark.createDataFrame(list(enumerate(lines, start=1)), "line_number long, line string")
    pack = dataclasses.replace(default_pack(), digest="f" * 64)

    rows = spark_engine.assess_spark_lines(numbered, pack)

    actual = pl.DataFrame([row.asDict() for row in rows.collect()], schema=output_schema(False))
    assert_frame_equal(_polars_rows(lines), actual)


def test_without_pyspark_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without PySpark, starting the Spark engine says to install ``vertaid[spark]``."""
    monkeypatch.setitem(sys.modules, "pyspark.sql.pandas.utils", None)

    with pytest.raises(spark_engine.SparkUnavailableError, match=r"pip install 'vertaid\[spark\]'"):
        spark_engine.spark_session()


def test_an_executor_with_another_pack_refuses_to_assess() -> None:
    """An executor whose knowledge pack is not the driver's raises rather than give other answers."""
    batch = pa.record_batch({"line_number": pa.array([1], pa.int64()), "line": pa.array(["{}"])})
    arrow_schema = pl.DataFrame(schema=output_schema(False)).to_arrow().schema

    batches = spark_engine._assess_batches(
        [batch], explain=False, arrow_schema=arrow_schema, digest="0" * 64, pack=None
    )

    with pytest.raises(RuntimeError, match="not the driver's"):
        next(batches)
