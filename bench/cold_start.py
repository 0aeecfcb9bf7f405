"""Cold start of ``vertaid assess``: process start to exit, for the JSON and the text output.

.venv/bin/python bench/cold_start.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "examples" / "02-collapse-over-30.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    program = Path(sys.executable).parent / "vertaid"
    for output in ("json", "text"):
        timings = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(
                [str(program), "assess", str(CASE), "--format", output], check=True, capture_output=True
            )
            timings.append(time.perf_counter() - start)
        timings.sort()
        print(
            f"vertaid assess --format {output}: median {statistics.median(timings) * 1000:.0f} ms, "
            f"p90 {timings[int(0.9 * (len(timings) - 1))] * 1000:.0f} ms, "
            f"best {timings[0] * 1000:.0f} ms ({runs} runs)"
        )


if __name__ == "__main__":
    main()
