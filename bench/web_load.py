"""Load on ``POST /api/v1/assessments``: requests per second, p50 and p99 latency, on SQLite and PostgreSQL.

.venv/bin/python bench/web_load.py [--duration 10] [--connections 8] [--threads 2] [--workers 2]
                                   [--runs 1] [--stores sqlite,postgresql] [--access-log]

For each store, ``vertaid serve --workers N`` runs in a second process on a free loopback port (its
request log off unless ``--access-log``; its log goes to a temporary file), with an SQLite store in a
temporary folder, or a schema of its own in the PostgreSQL database ``test`` at 127.0.0.1:5432 (dropped
afterwards). wrk (Debian's package, installed here when missing and the user is root) posts the 20 public
vignettes in turn, each with an API key, for a bounded run after a 2-second warm-up, from a third
process. Every answer must be 201: a run with any other answer is reported as such. Each line gives the
machine's load average as the run began and as it ended: other work on the machine takes CPU from the
server and wrk, so compare runs made while it was idle (load under 1). The issue's target is 500
requests/s with p99 under 50 ms on a 2-core machine. Nothing here sends traffic anywhere but the
loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VIGNETTES = sorted((ROOT / "tests" / "vignettes").glob("*.json"))
POSTGRESQL_HOST, POSTGRESQL_PORT, POSTGRESQL_DATABASE = "127.0.0.1", 5432, "test"


@dataclass(frozen=True)
class Result:
    """One bounded wrk run."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    other_answers: int
    socket_errors: str


def _wrk() -> str:
    found = shutil.which("wrk")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (Debian's package)", file=sys.stderr)

        def apt_get(*arguments: str) -> int:
            quiet = subprocess.DEVNULL
            return subprocess.run(["apt-get", *arguments], check=False, stdout=quiet, stderr=quiet).returncode

        if apt_get("install", "-y", "-q", "wrk"):
            apt_get("update", "-q")
            apt_get("install", "-y", "-q", "wrk")
        found = shutil.which("wrk")
    if found is None:
        sys.exit("bench/web_load.py needs wrk (apt-get install wrk)")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _script(key: str, folder: Path) -> Path:
    """The wrk script: POST the vignettes in turn with the key, and count answers other than 201."""
    bodies = [json.dumps(json.loads(path.read_text())["case"]) for path in VIGNETTES]
    lua = [
        'wrk.method = "POST"',
        'wrk.headers["Content-Type"] = "application/json"',
        f'wrk.headers["Authorization"] = "Bearer {key}"',
        "local bodies = {" + ", ".join(json.dumps(body) for body in bodies) + "}",
        "local next_body = 0",
        "local others = 0",
        "request = function()",
        "  next_body = next_body % #bodies + 1",
        "  return wrk.format(nil, nil, nil, bodies[next_body])",
        "end",
        "response = function(status, headers, body)",
        "  if status ~= 201 then others = others + 1 end",
        "end",
        "done = function(summary, latency, requests)",
        '  io.write(string.format("p50_us %d\\n", latency:percentile(50)))',
        '  io.write(string.format("p99_us %d\\n", latency:percentile(99)))',
        "end",
    ]
    path = folder / "post.lua"
    path.write_text("\n".join(lua) + "\n")
    return path


@contextlib.contextmanager
def _server(database_url: str, workers: int, access_log: bool = False) -> Iterator[tuple[str, int]]:
    """``vertaid serve`` on a free loopback port, in a process of its own; its base URL and process id."""
    port = _free_port()
    environment = os.environ | {"VERTAID_DATABASE_URL": database_url}
    command = [
        str(Path(sys.executable).parent / "vertaid"),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--access-log" if access_log else "--no-access-log",
    ]
    # The log is read only when the server fails to start; a running server's lines are thrown away, as
    # a pipe nobody reads would fill and stop the server.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    sys.exit(f"vertaid serve did not start:\n{log.read().decode()}")
                time.sleep(0.1)
            yield base, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _run(wrk: str, script: Path, url: str, seconds: int, connections: int, threads: int) -> Result:
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    others = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return Result(
        requests_per_second=rate,
        p50_ms=int(re.search(r"p50_us (\d+)", output).group(1)) / 1000,  # type: ignore[union-attr]
        p99_ms=int(re.search(r"p99_us (\d+)", output).group(1)) / 1000,  # type: ignore[union-attr]
        requests=requests,
        other_answers=int(others.group(1)) if others else 0,
        socket_errors=errors.group(1) if errors else "none",
    )


def _key(database_url: str) -> str:
    from vertaid.services.keys import create_key
    from vertaid.store import open_store

    store = open_store(database_url)
    try:
        return create_key(store, f"bench-{uuid.uuid4().hex[:8]}")
    finally:
        store.dispose()


@contextlib.contextmanager
def _sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="vertaid-bench-") as folder:
        yield f"sqlite:///{folder}/vertaid.db"


@contextlib.contextmanager
def _postgresql() -> Iterator[str | None]:
    import psycopg

    schema = f"vertaid_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    for user in ("postgres", "root"):
        try:
            admin = psycopg.connect(
                host=POSTGRESQL_HOST,
                port=POSTGRESQL_PORT,
                dbname=POSTGRESQL_DATABASE,
                user=user,
                autocommit=True,
                connect_timeout=5,
            )
        except psycopg.OperationalError:
            continue
        break
    else:
        yield None
        return
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield (
                f"postgresql://{user}@{POSTGRESQL_HOST}:{POSTGRESQL_PORT}/{POSTGRESQL_DATABASE}"
                f"?options=-csearch_path%3D{schema}"
            )
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _load() -> str:
    """The machine's load average over the last minute."""
    return f"{os.getloadavg()[0]:.2f}"


@dataclass(frozen=True)
class CpuClock:
    """CPU seconds used so far: by the whole machine, by the server's processes, and by this process's
    finished children (wrk)."""

    machine: float
    server: float
    wrk: float

    @staticmethod
    def read(server: int) -> CpuClock | None:
        """Now, on Linux (from /proc); None elsewhere."""
        try:
            # user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
            ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
            processes = [server, *_children(server)]
            server_ticks = sum(_process_ticks(pid) for pid in processes)
        except (OSError, ValueError):
            return None
        per_second = os.sysconf("SC_CLK_TCK")
        wrk = resource.getrusage(resource.RUSAGE_CHILDREN)
        return CpuClock(
            machine=(sum(ticks) - ticks[3] - ticks[4]) / per_second,
            server=server_ticks / per_second,
            wrk=wrk.ru_utime + wrk.ru_stime,
        )


def _process_ticks(pid: int) -> int:
    """User and system CPU ticks of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))


def _children(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (the server's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


def _cpu_use(before: CpuClock | None, after: CpuClock | None, result: Result, seconds: int) -> str:
    """The CPU the server and wrk used per request, and how many cores everything else kept busy."""
    if before is None or after is None:
        return "CPU use not measured (no /proc)"
    server = after.server - before.server
    wrk = after.wrk - before.wrk
    others = max((after.machine - before.machine) - server - wrk, 0.0) / seconds
    requests = max(result.requests, 1)
    return (
        f"CPU a request: server {server / requests * 1000:.2f} ms, wrk {wrk / requests * 1000:.2f} ms; "
        f"other processes kept {others:.2f} of the machine's {os.cpu_count()} cores busy"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds of each measured run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="vertaid serve's worker processes")
    parser.add_argument("--runs", type=int, default=1, help="measured runs of each store, one server")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--access-log", action="store_true", help="serve with the request log on")
    options = parser.parse_args()
    wrk = _wrk()
    stores = {"sqlite": _sqlite, "postgresql": _postgresql}
    for name in options.stores.split(","):
        with stores[name]() as database_url:
            if database_url is None:
                print(f"{name}: skipped, no PostgreSQL server answers at 127.0.0.1:5432")
                continue
            key = _key(database_url)
            with (
                tempfile.TemporaryDirectory(prefix="vertaid-bench-wrk-") as folder,
                _server(database_url, options.workers, options.access_log) as (base, server),
            ):
                script = _script(key, Path(folder))
                url = f"{base}/api/v1/assessments"
                _run(wrk, script, url, 2, options.connections, options.threads)  # warm-up
                for _ in range(options.runs):
                    load_before, clock = _load(), CpuClock.read(server)
                    result = _run(wrk, script, url, options.duration, options.connections, options.threads)
                    cpu = _cpu_use(clock, CpuClock.read(server), result, options.duration)
                    _report(name, result, options, f"load average {load_before} -> {_load()}; {cpu}")


def _report(name: str, result: Result, options: argparse.Namespace, machine: str) -> None:
    answers = "every answer 201" if result.other_answers == 0 else f"{result.other_answers} NOT 201"
    print(
        f"POST /api/v1/assessments, {name}: {result.requests_per_second:.0f} requests/s, "
        f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms "
        f"({result.requests} requests in {options.duration} s, {options.connections} connections, "
        f"{options.workers} workers, {answers}, socket errors: {result.socket_errors})\n    {machine}",
        flush=True,
    )


if __name__ == "__main__":
    main()
