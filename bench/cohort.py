"""Cohort throughput and memory: prints figures, asserts nothing.

    .venv/bin/python bench/cohort.py                      # 1,000,000 synthetic cases
    .venv/bin/python bench/cohort.py --sizes 1000000 10000000 --spark --bounds

For each size, each run in a process of its own: cases/s from JSON Lines to Parquet and from Parquet
(flat layout) to Parquet, the CPU time of the run (user + system, all threads) per million cases, the
peak resident memory of the process, and the load average before and after (other work on the machine
slows the wall clock; CPU time per case moves less). Then the per-case Python loop (``json.loads``
and ``vertaid.assess`` per line) on a sample, and the ratios. Inputs come from ``vertaid synth`` (seed 7).

``--repeat N`` runs each engine N times at each size (the figures move from run to run with the rest
of the machine's work). ``--spark`` adds the Spark engine on ``local[2]`` over the first size's JSON
Lines (after a warm-up run, as bench/cohort_spark.py does). ``--bounds`` adds what bounds the JSON Lines
figure: the CPU time per million cases of reading the file in chunks alone, and of reading it and
parsing every chunk with Arrow's JSON reader (the engine's own parse) alone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_RUN = """
import json, os, resource, sys, time
from pathlib import Path
from vertaid.cohort import assess_cohort
from vertaid.knowledge import default_pack
pack = default_pack()
load = os.getloadavg()[0]
before, started = os.times(), time.perf_counter()
summary = assess_cohort(Path(sys.argv[1]), Path(sys.argv[2]), pack, batch_size=int(sys.argv[3]),
                        explain=sys.argv[4] == "explain")
seconds, after = time.perf_counter() - started, os.times()
print(json.dumps({"cases": summary.assessed + summary.rejected, "seconds": seconds,
                  "cpu": after.user - before.user + after.system - before.system,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "load": [load, os.getloadavg()[0]]}))
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

_BOUNDS = """
import json, os, sys
from pathlib import Path
from vertaid.cohort._json_lines import candidate_texts, chunk_lines, file_chunks, read_lines
path, batch = Path(sys.argv[1]), int(sys.argv[2])
before = os.times()
lines = sum(len(chunk.breaks) for chunk in file_chunks(path, batch))
reading = os.times()
for chunk in file_chunks(path, batch):
    read_lines(candidate_texts(chunk.text, *chunk_lines(chunk)))
parsing = os.times()
cpu = lambda a, b: b.user - a.user + b.system - a.system
print(json.dumps({"lines": lines, "read": cpu(before, reading), "read_and_parse": cpu(reading, parsing)}))
"""

_SPARK = """
import json, os, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(sys.argv[3])))
from cohort_spark import _write_cases
from vertaid.cohort._spark import assess_with_spark, spark_session
source, work = Path(sys.argv[1]), Path(sys.argv[2])
spark = spark_session("local[2]", {"spark.ui.enabled": "false"})
warm_up = work / "warm-up.jsonl"
_write_cases(warm_up, 1_000)
assess_with_spark(warm_up, work / "warm-up.parquet", spark=spark)
load = os.getloadavg()[0]
summary = assess_with_spark(source, work / "spark.parquet", spark=spark)
print(json.dumps({"cases": summary.assessed + summary.rejected, "seconds": summary.seconds,
                  "load": [load, os.getloadavg()[0]]}))
spark.stop()
"""


def _vertaid() -> str:
    return str(Path(sys.executable).with_name("vertaid"))


def _child(script: str, *arguments: object) -> dict[str, Any]:
    """Run ``script`` in a Python process of its own; its last line of output is a JSON object."""
    os.sync()  # the input just written goes to disk now, not while the run reads it
    out = subprocess.run(
        [sys.executable, "-c", script, *map(str, arguments)], capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _report(label: str, size: int, run: dict[str, Any]) -> tuple[float, float]:
    """Print a run's figures; return its cases/s and CPU seconds per million cases."""
    rate, cpu = run["cases"] / run["seconds"], run["cpu"] / run["cases"] * 1e6
    print(
        f"{size:>11,} cases  {label:<22} {rate:>10,.0f} cases/s  {cpu:5.2f} CPU-s per million"
        f"  peak {run['peak_kib'] // 1024:,} MiB  load {run['load'][0]:.2f} -> {run['load'][1]:.2f}"
    )
    return rate, cpu


def _per_case_loop(source: Path, sample: int) -> tuple[float, float]:
    """Cases per second and CPU seconds per million cases of ``json.loads`` + ``vertaid.assess``."""
    import vertaid

    with source.open() as handle:
        lines = [handle.readline() for _ in range(sample)]
    before, started = os.times(), time.perf_counter()
    for line in lines:
        with contextlib.suppress(vertaid.InvalidCase, ValueError):
            vertaid.assess(json.loads(line))
    seconds, after = time.perf_counter() - started, os.times()
    cpu = after.user - before.user + after.system - before.system
    return sample / seconds, cpu / sample * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--sample", type=int, default=20_000, help="cases for the per-case loop")
    parser.add_argument("--batch-size", type=int, default=None, help="lines per batch (the engine's default)")
    parser.add_argument("--explain", action="store_true", help="add the rules fired to each row")
    parser.add_argument("--spark", action="store_true", help="the Spark engine on local[2] too")
    parser.add_argument("--bounds", action="store_true", help="the CPU time of reading and parsing alone")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each engine at each size")
    arguments = parser.parse_args()
    from vertaid.cohort._run import DEFAULT_BATCH

    batch = arguments.batch_size or DEFAULT_BATCH
    explain = "explain" if arguments.explain else "-"
    print(f"{os.cpu_count()} CPUs; batches of {batch:,} lines{'; --explain' if arguments.explain else ''}")
    with tempfile.TemporaryDirectory(prefix="vertaid-bench-") as folder:
        work = Path(folder)
        best_rate, best_cpu = 0.0, float("inf")
        for index, size in enumerate(arguments.sizes):
            source = work / f"cases-{size}.jsonl"
            subprocess.run(
                [_vertaid(), "synth", str(size), "-o", str(source), "--seed", "7"],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(arguments.repeat):
                rate, cpu = _report(
                    "JSON Lines -> Parquet", size, _child(_RUN, source, work / "out.parquet", batch, explain)
                )
                best_rate, best_cpu = max(best_rate, rate), min(best_cpu, cpu)
            if arguments.bounds and index == 0:
                bounds = _child(_BOUNDS, source, batch)
                for label, key in (("reading", "read"), ("reading + Arrow parse", "read_and_parse")):
                    alone = bounds[key] / bounds["lines"] * 1e6
                    print(f"{size:>11,} cases  {label:<22} {alone:5.2f} CPU-s per million (alone)")
            if arguments.spark and index == 0:
                spark = _child(_SPARK, source, work, Path(__file__).parent)
                spark_rate = spark["cases"] / spark["seconds"]
                print(
                    f"{size:>11,} cases  {'Spark local[2]':<22} {spark_rate:>10,.0f} cases/s"
                    f"  load {spark['load'][0]:.2f} -> {spark['load'][1]:.2f}"
                )
            flat = work / f"cases-{size}.parquet"
            subprocess.run([sys.executable, "-c", _TO_PARQUET, str(source), str(flat)], check=True)
            source.unlink()
            for _ in range(arguments.repeat):
                _report("Parquet -> Parquet", size, _child(_RUN, flat, work / "out.parquet", batch, explain))
            flat.unlink()
        sample_source = work / "sample.jsonl"
        subprocess.run(
            [_vertaid(), "synth", str(arguments.sample), "-o", str(sample_source), "--seed", "7"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        loop, loop_cpu = _per_case_loop(sample_source, arguments.sample)
        print(
            f"per-case Python loop (json.loads + vertaid.assess): {loop:,.0f} cases/s, "
            f"{loop_cpu:.1f} CPU-s per million"
        )
        print(
            f"JSON Lines cohort / per-case loop: {best_rate / loop:,.0f}x in cases/s, "
            f"{loop_cpu / best_cpu:,.0f}x in CPU time per case"
        )


if __name__ == "__main__":
    main()
