"""The Spark engine of a cohort run: the Polars engine's batch function, spread over a Spark cluster.

JSON Lines are read by Spark as text and numbered with their line numbers in the file; each Arrow batch
of lines goes through :func:`vertaid.cohort._batch.assess_lines` on an executor (``mapInArrow``), so a
case gets the same row from either engine. Assessed rows are written as Parquet and rejected lines as
JSON Lines; Spark writes each as a directory of part files (``part-*.parquet``, one per partition, each
in line order; ``part-*.json``, one file in line order), with a ``_SUCCESS`` marker once the whole output
is committed.

PySpark is optional (``pip install 'vertaid[spark]'``) and imported only when a Spark run starts.
Without a master, the session follows Spark's own configuration (``spark-submit --master``,
``spark-defaults.conf``), which runs locally on every core (``local[*]``) when none is given.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Final

import polars as pl
import pyarrow as pa

from vertaid.cohort._batch import assess_lines, output_schema
from vertaid.cohort._run import CohortInputError, CohortSummary
from vertaid.domain.pack import KnowledgePack
from vertaid.knowledge import default_pack

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = [
    "SparkCohortSummary",
    "SparkUnavailableError",
    "assess_spark_lines",
    "assess_with_spark",
    "numbered_lines",
    "spark_output_schema",
    "spark_session",
]

INSTALL_HINT: Final = "pip install 'vertaid[spark]'"

FIRST_REJECTS: Final = 20
"""How many rejected lines the summary names (all of them are in the rejects output)."""

_DEFAULT_CONF: Final[Mapping[str, str]] = {
    # Progress bars would interleave with the run's own summary on the terminal.
    "spark.ui.showConsoleProgress": "false",
}


class SparkUnavailableError(ImportError, CohortInputError):
    """PySpark (or its Arrow support) is not installed; the message says how to install it.

    A :class:`CohortInputError` too, so ``vertaid cohort --engine spark`` prints it as one line.
    """


@dataclass
class SparkCohortSummary(CohortSummary):
    """What a Spark run did: the Polars engine's summary (``seconds`` leaves out Spark's start-up), and
    the first rejected lines."""

    first_rejects: list[tuple[int, str | None, str]] = field(default_factory=list)
    """Up to :data:`FIRST_REJECTS` rejected lines in line order: line number, case id, reasons."""


def spark_session(
    master: str | None = None, conf: Mapping[str, str] | None = None, *, app_name: str = "vertaid cohort"
) -> SparkSession:
    """The Spark session a cohort runs on: the active one, or a new one.

    Args:
        master: a Spark master URL (``local[2]``, ``spark://host:7077``, ``yarn``, ``k8s://…``); by
            default Spark's configuration decides, and runs locally on every core when it does not.
        conf: ``spark.*`` settings, which take precedence over ``spark-defaults.conf``.

    Raises:
        SparkUnavailableError: PySpark is not installed.
    """
    _require_pyspark()
    from pyspark.sql import SparkSession

    # Executors started from this driver (local mode) must run this interpreter, which has vertaid;
    # on a cluster, PYSPARK_PYTHON or spark.pyspark.python names the executors' interpreter instead.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    for key, value in {**_DEFAULT_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    if SparkSession.getActiveSession() is not None:
        return builder.getOrCreate()
    with _quiet_logging():
        return builder.getOrCreate()


def spark_output_schema(explain: bool) -> StructType:
    """The Spark schema of a cohort's rows, derived from :func:`output_schema` through Arrow."""
    _require_pyspark()
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(_arrow_output_schema(explain))


def numbered_lines(spark: SparkSession, path: str, *, partitions: int | None = None) -> DataFrame:
    """The lines of a text file with their line numbers (from 1): ``line_number`` and ``line``.

    Lines are split as the Polars engine splits them: at ``\\n``, less a ``\\r`` before it. Every line
    keeps its number in the file, blank ones included (they are rejected later, not dropped). A
    directory or a glob is read as its files one after another in path order, numbered as one text.

    Spark reads the file in splits, in parallel; a first pass counts each split's lines, so that each
    line's number is its split's first number plus its place in the split. Both passes run in the JVM.

    Args:
        partitions: spread the lines over this many partitions, in line order (a shuffle); by default
            the file's splits are the partitions (``spark.sql.files.maxPartitionBytes``, 128 MiB).
    """
    return _numbered_lines(spark, path, partitions)[0]


def _numbered_lines(spark: SparkSession, path: str, partitions: int | None) -> tuple[DataFrame, int]:
    """:func:`numbered_lines`, and how many lines the first pass counted."""
    from pyspark.sql import functions as F

    text = spark.read.option("lineSep", "\n").text(path)
    placed = text.select(
        F.col("_metadata.file_path").alias("_file"),
        F.col("_metadata.file_block_start").alias("_split"),
        # A row's id is its partition's index shifted left 33 bits plus its place in the partition:
        # consecutive within a split, and the same in both passes over the same file.
        F.spark_partition_id().alias("_partition"),
        F.monotonically_increasing_id().alias("_id"),
        F.regexp_replace("value", r"\r\z", "").alias("line"),
    )
    keys = ["_file", "_split", "_partition"]
    splits = placed.groupBy(*keys).agg(F.count("*").alias("lines"), F.min("_id").alias("first_id")).collect()
    firsts = []
    lines_before = 0
    for split in sorted(splits, key=lambda split: (split["_file"], split["_split"])):
        firsts.append(
            (split["_file"], split["_split"], split["_partition"], lines_before + 1 - split["first_id"])
        )
        lines_before += split["lines"]
    offsets = spark.createDataFrame(
        firsts, "_file string, _split long, _partition int, _offset long", verifySchema=False
    )
    numbered = placed.join(F.broadcast(offsets), keys).select(
        (F.col("_id") + F.col("_offset")).alias("line_number"), "line"
    )
    if partitions is not None:
        numbered = numbered.repartitionByRange(partitions, "line_number")
    return numbered, lines_before


def assess_spark_lines(
    lines: DataFrame, pack: KnowledgePack | None = None, *, explain: bool = False
) -> DataFrame:
    """Assess a Spark DataFrame of ``line_number`` and ``line``: one row per line (:func:`output_schema`).

    Each executor runs :func:`assess_lines` on the Arrow batches of its partitions
    (``spark.sql.execution.arrow.maxRecordsPerBatch`` lines at most, 10,000 by default). With the pack
    that ships with vertaid (the default), executors load their own copy, which must be the driver's;
    another pack is sent to them with the tasks.
    """
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = spark_output_schema(explain)
    # Spark's own Arrow types for the schema: Polars gives large strings and lists, which Spark
    # does not read back (LargeList) unless told to.
    arrow_schema = to_arrow_schema(schema)
    pack = pack or default_pack()
    shipped = None if pack.digest == default_pack().digest else pack
    assess = functools.partial(
        _assess_batches, explain=explain, arrow_schema=arrow_schema, digest=pack.digest, pack=shipped
    )
    return lines.select("line_number", "line").mapInArrow(assess, schema)


def assess_with_spark(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    pack: KnowledgePack | None = None,
    *,
    rejects_path: str | os.PathLike[str] | None = None,
    explain: bool = False,
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    spark: SparkSession | None = None,
    batch_size: int | None = None,
    partitions: int | None = None,
    overwrite: bool = False,
) -> SparkCohortSummary:
    """Assess every line of a JSON Lines file with Spark, into Parquet and a rejects output.

    Paths are anything Spark reads and writes: local paths, ``hdfs://``, ``s3a://``, ``gs://``, ``abfss://``.

    Args:
        input_path: JSON Lines, one case per line; or a directory or glob of such files.
        output_path: the directory of Parquet part files, one row per assessed case, with the columns
            of :func:`output_schema` but ``rejected``; each part file is in line order, and for one input
            file the part files follow one another in line order too.
        pack: the knowledge pack (default: the one that ships with vertaid).
        rejects_path: the directory of the rejected lines as JSON Lines (one part file, in line order:
            ``line_number``, ``case_id``, ``reasons``); by default ``OUTPUT.rejects.jsonl``.
        explain: add ``rules_fired`` to each row.
        master, conf: for a new session (:func:`spark_session`); ignored when ``spark`` is given.
        batch_size: lines per Arrow batch (``spark.sql.execution.arrow.maxRecordsPerBatch``, set on the
            session); by default the session's, 10,000 unless configured.
        partitions: see :func:`numbered_lines`.
        overwrite: replace existing outputs; by default an existing output is an error.

    Raises:
        SparkUnavailableError: PySpark is not installed.
        CohortInputError: the input is CSV or Parquet, a local input does not exist, or a local output
            exists (without ``overwrite``).
        pyspark.errors.AnalysisException: the same, for remote paths.
        RuntimeError: the input changed while it was read.
    """
    input_path, output_path = os.fspath(input_path), os.fspath(output_path)
    rejects_path = os.fspath(rejects_path) if rejects_path else output_path.rstrip("/") + ".rejects.jsonl"
    _check_paths(input_path, [output_path, rejects_path], overwrite)
    session = spark or spark_session(master, conf)
    if batch_size is not None:
        session.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_size))
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    summary = SparkCohortSummary(input_path, output_path, rejects_path, "spark")
    started = time.perf_counter()
    lines, line_count = _numbered_lines(session, input_path, partitions)
    rows = assess_spark_lines(lines, pack, explain=explain)
    # Kept after the first write, so the rejects and the counts do not assess the cohort again.
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        mode = "overwrite" if overwrite else "errorifexists"
        is_rejected = F.col("rejected").isNotNull()
        rows.filter(~is_rejected).drop("rejected").write.mode(mode).parquet(output_path)
        rejects = rows.filter(is_rejected).select(
            "line_number", "case_id", F.col("rejected").alias("reasons")
        )
        # One part file in line order, as the Polars engine writes: rejects are few, and a person reads
        # them. Null case ids are written too, as by the Polars engine.
        one_file = rejects.repartition(1).sortWithinPartitions("line_number")
        one_file.write.mode(mode).option("ignoreNullFields", "false").json(rejects_path)
        counts = rows.groupBy(is_rejected.alias("is_rejected"), "decision", "lcd_coverage_met").count()
        for is_rejected_line, decision, coverage_met, count in counts.collect():
            if is_rejected_line:
                summary.rejected += count
                continue
            summary.assessed += count
            summary.decisions[decision] += count
            summary.coverage_met += count if coverage_met else 0
        summary.first_rejects = [
            (row["line_number"], row["case_id"], row["reasons"])
            for row in rejects.orderBy("line_number").limit(FIRST_REJECTS).collect()
        ]
    finally:
        rows.unpersist()
    if summary.assessed + summary.rejected != line_count:
        # A split read again with other lines than in the first pass has no line numbers: its lines
        # are missing, so the run is not a complete answer.
        raise RuntimeError(
            f"{input_path} changed while it was read: {line_count} lines counted, "
            f"{summary.assessed + summary.rejected} assessed or rejected"
        )
    summary.seconds = time.perf_counter() - started
    return summary


def _check_paths(input_path: str, outputs: list[str], overwrite: bool) -> None:
    """Refuse what the Spark engine cannot do, before Spark starts: local paths only (remote ones are
    Spark's to check), so the command line can say it in one line."""
    suffix = Path(input_path.rstrip("/")).suffix.lower()
    if suffix in (".csv", ".parquet", ".pq"):
        raise CohortInputError(
            f"{input_path}: the Spark engine reads JSON Lines; use the Polars engine for {suffix[1:]}"
        )
    local_input = _local(input_path)
    if local_input is not None and not _is_glob(input_path) and not local_input.exists():
        raise CohortInputError(f"{input_path}: no such file")
    for output in outputs:
        local_output = _local(output)
        if local_output is not None and local_output.exists() and not overwrite:
            kind = "directory" if local_output.is_dir() else "file"
            raise CohortInputError(
                f"{output} exists ({kind}): the Spark engine writes a new directory there; remove it first"
            )


def _is_glob(path: str) -> bool:
    """Whether Hadoop reads ``path`` as a glob pattern."""
    return any(character in path for character in "*?[{")


def _local(path: str) -> Path | None:
    """The local file a Spark path names, or None for a remote one (``s3a://``, ``hdfs://``, …)."""
    if path.startswith("file:"):
        return Path(path.removeprefix("file:").removeprefix("//"))
    return None if "://" in path else Path(path)


def _assess_batches(
    batches: Iterable[pa.RecordBatch],
    *,
    explain: bool,
    arrow_schema: pa.Schema,
    digest: str,
    pack: KnowledgePack | None,
) -> Iterator[pa.RecordBatch]:
    """On an executor: Arrow batches of lines in, Arrow batches of rows out, through Polars."""
    # The pack that ships with vertaid is loaded (and its policy compiled) once per Python worker, as
    # default_pack caches it; another pack arrives, unpickled, with each task.
    pack = pack or default_pack()
    if pack.digest != digest:
        # Another vertaid on the executors would give other answers than the driver's pack promises.
        raise RuntimeError(
            f"the executor's knowledge pack (sha256 {pack.digest[:12]}…) is not the driver's "
            f"({digest[:12]}…): install the same vertaid on the driver and every executor"
        )
    for batch in batches:
        lines = pl.from_arrow(batch)
        if not isinstance(lines, pl.DataFrame):  # a record batch is always a frame; this narrows the type
            raise TypeError(f"expected a frame of lines, got {type(lines).__name__}")
        rows = assess_lines(lines, pack, explain=explain).to_arrow()
        yield from rows.cast(arrow_schema).to_batches()


@functools.cache
def _arrow_output_schema(explain: bool) -> pa.Schema:
    """The Arrow schema Polars gives a frame of :func:`output_schema`."""
    return pl.DataFrame(schema=output_schema(explain)).to_arrow().schema


def _require_pyspark() -> None:
    try:
        import pyspark.sql.pandas.utils as arrow_support
    except ImportError:
        raise SparkUnavailableError(f"the Spark engine needs PySpark: {INSTALL_HINT}") from None
    # mapInArrow needs pandas and pyarrow besides PySpark (its `sql` extra).
    try:
        arrow_support.require_minimum_pandas_version()
        arrow_support.require_minimum_pyarrow_version()
    except ImportError as error:
        raise SparkUnavailableError(f"the Spark engine needs {error}: {INSTALL_HINT}") from None


class _quiet_logging:
    """While a local Spark JVM starts, point it at vertaid's log4j2 file (warnings and errors only).

    Not when spark-submit started the JVM, nor when Spark or the user configured logging already.
    """

    def __init__(self) -> None:
        self.saved: str | None = None
        self.changed = False

    def __enter__(self) -> None:
        self.saved = os.environ.get("SPARK_SUBMIT_OPTS")
        if "PYSPARK_GATEWAY_PORT" in os.environ or "log4j" in (self.saved or ""):
            return
        conf_dirs = [os.environ.get("SPARK_CONF_DIR"), os.environ.get("SPARK_HOME")]
        if conf_dirs[1]:
            conf_dirs[1] = os.path.join(conf_dirs[1], "conf")
        if any(directory and Path(directory, "log4j2.properties").is_file() for directory in conf_dirs):
            return
        properties = Path(str(resources.files("vertaid.cohort").joinpath("spark-log4j2.properties")))
        # The launcher splits SPARK_SUBMIT_OPTS on white space.
        if not properties.is_file() or any(space in str(properties) for space in " \t\n"):
            return
        option = f"-Dlog4j2.configurationFile={properties.as_uri()}"
        os.environ["SPARK_SUBMIT_OPTS"] = f"{self.saved} {option}" if self.saved else option
        self.changed = True

    def __exit__(self, *exc_info: object) -> None:
        if not self.changed:
            return
        if self.saved is None:
            os.environ.pop("SPARK_SUBMIT_OPTS", None)
        else:
            os.environ["SPARK_SUBMIT_OPTS"] = self.saved
