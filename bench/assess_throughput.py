"""In-process assessment throughput on one core: cases per second for typical cases.

Typical cases are the public vignettes (outpatients and inpatients with one or two fractures). Prints
the figures; asserts nothing.

    .venv/bin/python bench/assess_throughput.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from vertaid import assess
from vertaid.domain.assessment import assess_case
from vertaid.domain.case import parse_case
from vertaid.knowledge import default_pack

VIGNETTES = Path(__file__).resolve().parent.parent / "tests" / "vignettes"


def _cases() -> list[dict[str, Any]]:
    return [json.loads(path.read_text())["case"] for path in sorted(VIGNETTES.glob("*.json"))]


def _rate(label: str, work: Any, cases: list[Any], seconds: float) -> None:
    """Print the median and the best of one-second windows: this machine's speed drifts by ±20%.

    Each window is timed twice: by the wall clock, and by the CPU time of this process (one core),
    which leaves out the time the process waited while other programs had the core.
    """
    rates: list[float] = []
    cpu_rates: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(rates) < 3:
        done = 0
        start, cpu_start = time.perf_counter(), time.process_time()
        while time.perf_counter() - start < 1.0:
            for case in cases:
                work(case)
            done += len(cases)
        rates.append(done / (time.perf_counter() - start))
        cpu_rates.append(done / (time.process_time() - cpu_start))
    print(
        f"{label:<40} median {statistics.median(rates):>7,.0f}  best {max(rates):>7,.0f} cases/s"
        f"   per CPU-second: median {statistics.median(cpu_rates):>7,.0f}"
        f"   ({len(rates)} one-second windows)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    seconds = parser.parse_args().seconds
    cases = _cases()
    pack = default_pack()
    parsed = [parse_case(case) for case in cases]
    print(f"{len(cases)} vignette cases, knowledge pack {pack.id} {pack.version}, {seconds:g} s per figure")
    _rate("vertaid.assess (validate + assess)", assess, cases, seconds)
    _rate("validation only (parse_case)", parse_case, cases, seconds)
    _rate("engine only (assess_case)", lambda case: assess_case(case, pack), parsed, seconds)


if __name__ == "__main__":
    main()
