"""Speed of ``vertaid synth``: synthetic cases written per second, and the peak memory of the run.

.venv/bin/python bench/synth_speed.py [--cases 1000000] [--output /dev/null]

Runs the command line as a user would, writing to ``--output`` (``/dev/null`` by default, so that the
disk is not measured; give a file to include it). Reports wall-clock and CPU rates: on a shared machine
the CPU rate is the steadier figure.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--output", default="/dev/null")
    arguments = parser.parse_args()
    program = Path(sys.executable).parent / "vertaid"
    command = [str(program), "synth", str(arguments.cases), "-o", "-", "--seed", "1"]
    with open(arguments.output, "wb") as output:
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=output)
        elapsed = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    print(
        f"vertaid synth {arguments.cases:,} -o {arguments.output}: {elapsed:.1f} s, "
        f"{arguments.cases / elapsed:,.0f} cases/s wall, {arguments.cases / cpu:,.0f} cases/s of CPU, "
        f"peak memory {usage.ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
