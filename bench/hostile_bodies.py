"""Hostile bodies against the real server: how long each takes to refuse, and the server's memory.

.venv/bin/python bench/hostile_bodies.py [--rounds 20]

``vertaid serve`` (one worker, SQLite in a temporary folder) runs in a second process on a free loopback
port; this process sends it, one at a time over one connection, a valid case (for comparison) and bodies
made to hurt: nested 100 000 deep, a mebibyte of opening brackets, a mebibyte of wrong list items or of
unknown members (a problem every few bytes), a head declaring 64 MiB, and a chunked body that never ends.
Each line gives the status, the median and slowest time to the answer over the rounds, and the answer's
size. Then the server's resident memory: after a warm-up of valid writes, and its peak (VmHWM) after
all the hostile rounds. Nothing here sends traffic anywhere but the loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from web_load import _key, _server, _sqlite

ROOT = Path(__file__).resolve().parent.parent
VIGNETTE = json.loads((ROOT / "tests" / "vignettes" / "07-mild-pain.json").read_text(encoding="utf-8"))[
    "case"
]
MIB = 1024 * 1024


def _memory(pid: int) -> dict[str, int]:
    """The process's resident memory now and at its peak, in MiB (Linux /proc)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) // 1024
    return fields


def _bodies() -> dict[str, bytes]:
    return {
        "a valid case (for comparison)": json.dumps(VIGNETTE).encode(),
        "nested 100 000 deep (200 KB)": b"[" * 100_000 + b"]" * 100_000,
        "1 MiB of opening brackets": b"[" * MIB,
        "100 000 wrong list items (1 MiB)": json.dumps(
            VIGNETTE | {"conservative_care": {"modalities": ["x"] * 100_000}}
        ).encode(),
        "80 000 unknown members (1 MiB)": json.dumps(VIGNETTE | {f"k{n}": 0 for n in range(80_000)}).encode(),
    }


def _raw(port: int, key: str, head_lines: str, body: Callable[[socket.socket], None]) -> tuple[int, int]:
    """One request written by hand; the status and the answer's size."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(
            (
                f"POST /api/v1/assessments HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n"
                f"Content-Type: application/json\r\nConnection: close\r\n{head_lines}\r\n"
            ).encode()
        )
        body(connection)
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except OSError:
            pass
    return int(answer.split(b" ", 2)[1]), len(answer)


def _endless_chunks(connection: socket.socket) -> None:
    piece = b" " * 65536
    framed = b"%x\r\n" % len(piece) + piece + b"\r\n"
    for _ in range(1024):  # 64 MiB offered; the server answers after 1 MiB
        try:
            connection.sendall(framed)
        except OSError:
            return


def _line(name: str, times: list[float], status: int, size: int, pid: int) -> None:
    median, slowest = statistics.median(times) * 1000, max(times) * 1000
    memory = _memory(pid)
    print(
        f"  {name:<36} {status}  median {median:7.1f} ms  slowest {slowest:7.1f} ms  answer {size:>6} B"
        f"  server {memory['VmRSS']} MiB (peak {memory['VmHWM']})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=20)
    options = parser.parse_args()
    load = os.getloadavg()[0]
    with _sqlite() as database_url, _server(database_url, workers=1) as (base, pid):
        key = _key(database_url)
        port = int(base.rsplit(":", 1)[1])
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            for _ in range(20):
                client.post("/api/v1/assessments", content=_bodies()["a valid case (for comparison)"])
            warm = _memory(pid)
            print(f"vertaid serve (1 worker, SQLite); {options.rounds} rounds; load average {load:.2f}")
            for name, body in _bodies().items():
                times = []
                for _ in range(options.rounds):
                    started = time.perf_counter()
                    response = client.post("/api/v1/assessments", content=body)
                    times.append(time.perf_counter() - started)
                _line(name, times, response.status_code, len(response.content), pid)
        for name, head, send in (
            ("a head declaring 64 MiB", f"Content-Length: {64 * MIB}\r\n", lambda _: None),
            ("chunked, endless (64 MiB offered)", "Transfer-Encoding: chunked\r\n", _endless_chunks),
        ):
            times = []
            for _ in range(options.rounds):
                started = time.perf_counter()
                status, size = _raw(port, key, head, send)
                times.append(time.perf_counter() - started)
            _line(name, times, status, size, pid)
        peak = _memory(pid)
    print(
        f"server memory: {warm['VmRSS']} MiB resident after the warm-up; "
        f"{peak['VmRSS']} MiB after the hostile rounds, peak {peak['VmHWM']} MiB"
    )
    print(f"load average at the end {os.getloadavg()[0]:.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
