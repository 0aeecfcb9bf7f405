"""Report generation time per case: HTML and PDF, for each audience, over the public vignettes.

Each time covers one whole report from the case (validation, assessment, rendering; for PDF also the
printing), in a process that has already imported WeasyPrint and built its first page once; the
one-off start-up costs are printed apart. Prints the median and the worst case of the wall-clock time,
and the same of the process's CPU time (steadier when other work shares the machine); asserts
nothing. Targets: 0.5 s for HTML and 3 s for PDF per case.

    .venv/bin/python bench/report_speed.py [--pdf-cases 20] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

VIGNETTES = Path(__file__).resolve().parent.parent / "tests" / "vignettes"


def _cases() -> list[tuple[str, dict[str, Any]]]:
    return [(path.stem, json.loads(path.read_text())["case"]) for path in sorted(VIGNETTES.glob("*.json"))]


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _wall_and_cpu(work: Callable[[], object], rounds: int) -> tuple[float, float]:
    """The best wall-clock and CPU times of ``rounds`` runs."""
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def _line(label: str, timings: dict[str, tuple[float, float]]) -> None:
    parts = [f"{label:<16}"]
    for kind, index in (("wall", 0), ("cpu", 1)):
        values = {name: pair[index] for name, pair in timings.items()}
        worst = max(values, key=lambda name: values[name])
        parts.append(
            f"{kind} median {statistics.median(values.values()) * 1000:5.0f} ms, "
            f"worst {values[worst] * 1000:5.0f} ms ({worst})"
        )
    print("   ".join(parts) + f"   [{len(timings)} cases]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pdf-cases", type=int, default=20, help="how many vignettes to print as PDF")
    parser.add_argument("--rounds", type=int, default=1, help="time each case this many times, keep the best")
    options = parser.parse_args()
    cases = _cases()

    first_import = _timed(lambda: __import__("vertaid.services.report"))
    from vertaid.report import html_to_pdf
    from vertaid.services.report import render_report, report

    first_html = _timed(lambda: render_report(cases[0][1], "patient"))
    weasyprint_import = _timed(lambda: __import__("weasyprint"))
    first_pdf = _timed(lambda: html_to_pdf("<p>Kyphoplasty, vertebroplasty</p>"))
    print(
        f"one-off: import {first_import * 1000:.0f} ms, first HTML (templates) {first_html * 1000:.0f} ms, "
        f"WeasyPrint import {weasyprint_import * 1000:.0f} ms, first PDF (fonts) {first_pdf * 1000:.0f} ms"
    )
    for audience in ("patient", "clinician"):
        for output_format, measured in (("HTML", cases), ("PDF", cases[: options.pdf_cases])):
            timings = {
                name: _wall_and_cpu(partial(report, case, audience, output_format.lower()), options.rounds)
                for name, case in measured
            }
            _line(f"{audience} {output_format}", timings)


if __name__ == "__main__":
    main()
