"""Cohort throughput and memory: prints figures, asserts nothing.

    .venv/bin/python bench/cohort.py                      # 1,000,000 synthetic cases
    .venv/bin/python bench/cohort.py --sizes 1000000 10000000

For each size: cases/s from JSON Lines to Parquet and from Parquet (flat layout) to Parquet, and the
peak resident memory of each run (its own process). Then the per-case Python loop (``json.loads`` and
``vertaid.assess`` per line) on a sample, and the ratio. Inputs come from ``vertaid synth`` (seed 7).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_RUN = """
import resource, sys, time
from pathlib import Path
from vertaid.cohort import assess_cohort
from vertaid.knowledge import default_pack
pack = default_pack()
started = time.perf_counter()
summary = assess_cohort(Path(sys.argv[1]), Path(sys.argv[2]), pack)
seconds = time.perf_counter() - started
print(summary.assessed + summary.rejected, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

_TO_PARQUET = """
import sys
import polars as pl
from vertaid.cohort import FLAT_COLUMNS
from vertaid.cohort._layout import CASE_DTYPE
lines = pl.scan_lines(sys.argv[1]).select(pl.col("line").str.json_decode(CASE_DTYPE).alias("case"))
columns = []
for name in FLAT_COLUMNS:
    record, _, member = name.partition(".")
    value = pl.col("case").struct.field(record)
    columns.append((value.struct.field(member) if member else value).alias(name))
lines.select(columns).sink_parquet(sys.argv[2])
"""


def _vertaid() -> str:
    return str(Path(sys.executable).with_name("vertaid"))


def _run(source: Path, target: Path) -> tuple[int, float, int]:
    out = subprocess.run(
        [sys.executable, "-c", _RUN, str(source), str(target)], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[0]), float(out[1]), int(out[2])


def _per_case_loop(source: Path, sample: int) -> float:
    import vertaid

    lines = []
    with source.open() as handle:
        for _ in range(sample):
            lines.append(handle.readline())
    started = time.perf_counter()
    for line in lines:
        with contextlib.suppress(vertaid.InvalidCase, ValueError):
            vertaid.assess(json.loads(line))
    return sample / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--sample", type=int, default=20_000, help="cases for the per-case loop")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vertaid-bench-") as folder:
        work = Path(folder)
        best_rate = 0.0
        for size in arguments.sizes:
            source = work / f"cases-{size}.jsonl"
            subprocess.run([_vertaid(), "synth", str(size), "-o", str(source), "--seed", "7"], check=True)
            count, seconds, peak = _run(source, work / "out.parquet")
            rate = count / seconds
            best_rate = max(best_rate, rate)
            print(
                f"{size:>11,} cases  JSON Lines -> Parquet  {rate:>10,.0f} cases/s  peak {peak // 1024:,} MiB"
            )
            flat = work / f"cases-{size}.parquet"
            subprocess.run([sys.executable, "-c", _TO_PARQUET, str(source), str(flat)], check=True)
            count, seconds, peak = _run(flat, work / "out.parquet")
            rate = count / seconds
            print(
                f"{size:>11,} cases  Parquet -> Parquet     {rate:>10,.0f} cases/s  peak {peak // 1024:,} MiB"
            )
            source.unlink()
            flat.unlink()
        sample_source = work / "sample.jsonl"
        subprocess.run(
            [_vertaid(), "synth", str(arguments.sample), "-o", str(sample_source), "--seed", "7"], check=True
        )
        loop = _per_case_loop(sample_source, arguments.sample)
        print(f"per-case Python loop (json.loads + vertaid.assess): {loop:,.0f} cases/s")
        print(f"JSON Lines cohort / per-case loop: {best_rate / loop:,.0f}x")


if __name__ == "__main__":
    main()
