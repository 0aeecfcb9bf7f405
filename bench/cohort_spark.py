"""Spark engine throughput on this machine: prints figures, asserts nothing.

    .venv/bin/python bench/cohort_spark.py                    # 200,000 vignette cases, local[2]
    .venv/bin/python bench/cohort_spark.py cases.jsonl --master 'local[*]'

Without a file, the input is the twenty public vignettes replicated with distinct ids (``case-0000001``,
…) into a temporary JSON Lines file. Spark's start-up and a warm-up run (which starts the Python
workers) are timed apart; the figure is the second, full run, JSON Lines to Parquet and rejects.
Spark pays for its generality on one machine: compare with ``bench/cohort.py`` (the Polars engine).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from vertaid.cohort._spark import assess_with_spark, spark_session

VIGNETTES = Path(__file__).resolve().parent.parent / "tests" / "vignettes"


def _write_cases(path: Path, count: int) -> None:
    cases = [json.loads(vignette.read_text())["case"] for vignette in sorted(VIGNETTES.glob("*.json"))]
    with path.open("w", encoding="utf-8") as out:
        for number in range(1, count + 1):
            case = {**cases[(number - 1) % len(cases)], "id": f"case-{number:07d}"}
            out.write(json.dumps(case, separators=(",", ":")) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("input", nargs="?", type=Path, help="JSON Lines (default: generated vignettes)")
    parser.add_argument("--cases", type=int, default=200_000, help="cases to generate without INPUT")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--batch-size", type=int, default=None, help="lines per Arrow batch")
    options = parser.parse_args()

    # tempfile's directory is named spark-bench-…, beside other users' files in /tmp.
    work = Path(tempfile.mkdtemp(prefix="spark-bench-"))
    try:
        source: Path = options.input or work / "cases.jsonl"
        if options.input is None:
            _write_cases(source, options.cases)
        warm_up = work / "warm-up.jsonl"
        _write_cases(warm_up, 1_000)

        started = time.perf_counter()
        spark = spark_session(options.master, {"spark.ui.enabled": "false"})
        print(f"Spark {spark.version} on {options.master}: session in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        assess_with_spark(warm_up, work / "warm-up.parquet", spark=spark, batch_size=options.batch_size)
        print(f"warm-up run (1,000 cases, starts the Python workers): {time.perf_counter() - started:.1f} s")

        summary = assess_with_spark(
            source, work / "results.parquet", spark=spark, batch_size=options.batch_size
        )
        lines = summary.assessed + summary.rejected
        print(
            f"{source.name}: {lines:,} lines ({summary.assessed:,} assessed, {summary.rejected:,} rejected) "
            f"in {summary.seconds:.1f} s: {summary.cases_per_second:,.0f} cases/s"
        )
        spark.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
