"""A bounded soak of ``vertaid serve``: a fixed request rate for minutes, with errors, latency and the
server's resident memory minute by minute.

.venv/bin/python bench/soak.py [--minutes 10] [--rate 150] [--reads 0.25] [--workers 2] [--store sqlite]

``vertaid serve --workers N`` runs in a second process on a free loopback port, with its request log on
(as in production; the JSON lines go to a temporary file), over an SQLite store in a temporary folder or
a schema of its own in the PostgreSQL database ``test`` at 127.0.0.1:5432 (dropped afterwards).

The load comes from this process: a Python generator with a fixed rate (open loop). Request *i* is due
at ``start + i / rate`` and is sent then, whatever happened to the ones before, on a free keep-alive
connection (a new one when none is free); its latency is counted from when it was due, so a server that
falls behind shows it in the latency instead of slowing the generator down (no coordinated omission).
Most requests are ``POST /api/v1/assessments`` with one of the 20 public vignettes and an API key; a
share (``--reads``) are ``GET /api/v1/assessments/{id}`` of an assessment stored earlier in the run.

Every minute it prints the requests, the errors (any answer but 201/200, a refused or broken connection,
or no answer within 10 s), p50 and p99 latency (and the p99 of how late the generator itself began a
request, which is in that latency: on a busy machine the generator waits for a core too), the server's
resident memory (all its processes) and the CPU it used, and the machine's load average. At the end: the
totals, and the server's resident memory after the first minute, half-way and at the end. The exit status
is 1 when there was any error, or when the memory grew by more than ``--growth-mib`` over the second half
(the first minutes are a warm-up: in the runs in docs/reliability.md the memory rose for up to six
minutes, then stayed flat).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from web_load import VIGNETTES, CpuClock, _children, _key, _postgresql, _server, _sqlite

TIMEOUT_SECONDS = 10.0

IDLE_SECONDS = 2.0
"""A connection idle longer is closed, not reused: uvicorn closes keep-alive connections idle for 5 s, and
a request sent as it does so would fail through no fault of the server."""


@dataclass
class Minute:
    """What one minute of the soak saw (requests counted by the minute they were due in)."""

    latencies_ms: list[float] = field(default_factory=list)
    late_ms: list[float] = field(default_factory=list)
    errors: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    rss_mib: float = 0.0
    server_cpu_percent: float = 0.0
    load: float = 0.0


class Connection:
    """One keep-alive HTTP/1.1 connection to the server (answers with a Content-Length only)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = time.monotonic()

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send one request and read its answer: the status and the body."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self.writer.close()


def _post(body: bytes, key: str) -> bytes:
    head = (
        "POST /api/v1/assessments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def _get(assessment_id: str) -> bytes:
    return f"GET /api/v1/assessments/{assessment_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode("ascii")


def _resident_mib(server: int) -> float:
    """The resident memory of the server and its worker processes, in MiB."""
    total_kib = 0
    for pid in [server, *_children(server)]:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


class Soak:
    """The fixed-rate generator and what it measured."""

    def __init__(self, port: int, key: str, options: argparse.Namespace) -> None:
        self.port = port
        self.rate: float = options.rate
        self.reads: float = options.reads
        self.minutes: int = options.minutes
        self.posts = [
            _post(json.dumps(json.loads(path.read_text())["case"]).encode(), key) for path in VIGNETTES
        ]
        self.idle: list[Connection] = []
        self.stored: list[str] = []
        self.random = random.Random(7)
        self.results: list[Minute] = [Minute() for _ in range(self.minutes)]
        self.in_flight = 0

    async def _one(self, index: int, due: float, start: float) -> None:
        minute = self.results[min(int((due - start) // 60), self.minutes - 1)]
        # How late this process itself began the request: a busy machine delays the generator too, and
        # that delay is in the latency.
        minute.late_ms.append((time.monotonic() - due) * 1000)
        reading = bool(self.stored) and self.random.random() < self.reads
        request = _get(self.random.choice(self.stored)) if reading else self.posts[index % len(self.posts)]
        connection = None
        self.in_flight += 1
        try:
            connection = self._idle_connection() or await Connection.open(self.port)
            status, body = await asyncio.wait_for(connection.exchange(request), TIMEOUT_SECONDS)
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            ValueError,
        ) as error:
            minute.errors += 1
            minute.kinds[type(error).__name__] += 1
            if connection is not None:
                connection.close()
            return
        finally:
            self.in_flight -= 1
        minute.latencies_ms.append((time.monotonic() - due) * 1000)
        connection.idle_since = time.monotonic()
        self.idle.append(connection)
        if status != (200 if reading else 201):
            minute.errors += 1
            minute.kinds[f"{'GET' if reading else 'POST'} {status}"] += 1
        elif not reading and len(self.stored) < 10000:
            self.stored.append(json.loads(body)["id"])

    def _idle_connection(self) -> Connection | None:
        """The connection used last, if one is idle and was not idle too long (the others are closed)."""
        while self.idle:
            connection = self.idle.pop()
            if time.monotonic() - connection.idle_since < IDLE_SECONDS:
                return connection
            connection.close()
        return None

    async def run(self, server: int) -> None:
        start = time.monotonic()
        end = start + 60 * self.minutes
        tasks: set[asyncio.Task[None]] = set()
        sampler = asyncio.create_task(self._sample(server, start))
        index = 0
        while True:
            due = start + index / self.rate
            if due >= end:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self._one(index, due, start))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            index += 1
        await asyncio.gather(*tasks)
        await sampler
        for connection in self.idle:
            connection.close()

    async def _sample(self, server: int, start: float) -> None:
        """At the end of each minute: the server's memory and CPU, the load; and that minute's line."""
        clock = CpuClock.read(server)
        for number, minute in enumerate(self.results, 1):
            await asyncio.sleep(max(0.0, start + 60 * number - time.monotonic()))
            now = CpuClock.read(server)
            if clock is not None and now is not None:
                minute.server_cpu_percent = (now.server - clock.server) / 60 * 100
            clock = now
            minute.rss_mib = _resident_mib(server)
            minute.load = os.getloadavg()[0]
            if number > 1:  # the minute before is complete now (its last requests have been answered)
                _print_minute(number - 1, self.results[number - 2], self.rate)
        await asyncio.sleep(TIMEOUT_SECONDS + 1)  # the last minute's stragglers
        _print_minute(self.minutes, self.results[-1], self.rate)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def _kinds(minute: Minute) -> str:
    return (
        f" ({', '.join(f'{kind}: {count}' for kind, count in minute.kinds.items())})" if minute.kinds else ""
    )


def _print_minute(number: int, minute: Minute, rate: float) -> None:
    print(
        f"minute {number}: {len(minute.latencies_ms) + minute.errors} requests ({rate:g}/s due), "
        f"{minute.errors} errors{_kinds(minute)}, p50 {_percentile(minute.latencies_ms, 0.5):.1f} ms, "
        f"p99 {_percentile(minute.latencies_ms, 0.99):.1f} ms (the generator itself late by "
        f"{_percentile(minute.late_ms, 0.99):.1f} ms at p99); server RSS {minute.rss_mib:.1f} MiB, "
        f"CPU {minute.server_cpu_percent:.0f}% of a core; load average {minute.load:.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=int, default=10, help="how long the soak runs (at least 2)")
    parser.add_argument("--rate", type=float, default=150.0, help="requests a second, held throughout")
    parser.add_argument("--reads", type=float, default=0.25, help="the share of requests that are reads")
    parser.add_argument("--workers", type=int, default=2, help="vertaid serve's worker processes")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--growth-mib", type=float, default=8.0, help="growth in the second half that is called a failure"
    )
    options = parser.parse_args()
    if options.minutes < 2:
        parser.error("--minutes must be at least 2: the first minute is the warm-up")
    store = _sqlite if options.store == "sqlite" else _postgresql
    with store() as database_url:
        if database_url is None:
            sys.exit("no PostgreSQL server answers at 127.0.0.1:5432")
        key = _key(database_url)
        with _server(database_url, options.workers, access_log=True) as (base, server):
            port = int(base.rsplit(":", 1)[1])
            print(
                f"soak: {options.minutes} min at {options.rate:g} requests/s ({options.reads:.0%} reads), "
                f"vertaid serve --workers {options.workers}, {options.store}, request log on; "
                f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            soak = Soak(port, key, options)
            asyncio.run(soak.run(server))
    _summary(soak.results, options)


def _summary(results: list[Minute], options: argparse.Namespace) -> None:
    requests = sum(len(minute.latencies_ms) + minute.errors for minute in results)
    errors = sum(minute.errors for minute in results)
    growth = results[-1].rss_mib - results[0].rss_mib
    # The second half, once caches have filled: a leak shows as growth there.
    middle = results[len(results) // 2 - 1]
    late_growth = results[-1].rss_mib - middle.rss_mib
    p99s = [_percentile(minute.latencies_ms, 0.99) for minute in results]
    print(
        f"total: {requests} requests, {errors} errors; p99 per minute from {min(p99s):.1f} to "
        f"{max(p99s):.1f} ms (median {statistics.median(p99s):.1f}); server RSS {results[0].rss_mib:.1f} MiB "
        f"after minute 1, {middle.rss_mib:.1f} after minute {len(results) // 2}, {results[-1].rss_mib:.1f} "
        f"after minute {len(results)} ({growth:+.1f} MiB in all, {late_growth:+.1f} MiB in the second half)"
    )
    failures = (["errors"] if errors else []) + (
        [f"memory grew {late_growth:.1f} MiB in the second half"] if late_growth > options.growth_mib else []
    )
    if failures:
        print("FAILED: " + "; ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
