"""What the request log costs a request, in CPU: measured in one process, apart from everything else.

.venv/bin/python bench/request_log.py [--requests 20000] [--repeats 5]

An ASGI application that answers 200 at once is called directly (no sockets, no HTTP parsing) in three
ways: bare; behind ``RequestLog`` with the request log off (``vertaid serve --no-access-log``: a request
id and its header only); and behind ``RequestLog`` with the log on, its JSON lines written through the
configuration ``vertaid serve`` uses to a file. Each is timed in CPU seconds of this process
(``time.process_time``), the best of ``--repeats`` rounds, so that other processes on the machine change
the figures little; the difference from the bare application is the request log's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.config
import os
import tempfile
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vertaid.logs import ACCESS_LOGGER, log_config
from vertaid.web._request_log import RequestLog


async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


def _scope() -> Scope:
    return {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/assessments",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
    }


async def _receive() -> Message:
    return {"type": "http.request", "body": b"{}", "more_body": False}


async def _send(message: Message) -> None:
    return None


def _cpu_per_request(app: ASGIApp, requests: int, repeats: int) -> float:
    """The least CPU seconds one request took, over ``repeats`` rounds of ``requests``."""

    async def round_of() -> float:
        started = time.process_time()
        for _ in range(requests):
            await app(_scope(), _receive, _send)
        return (time.process_time() - started) / requests

    return min(asyncio.run(round_of()) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vertaid-bench-log-") as folder:
        config = log_config(access_log=True)
        config["handlers"]["stderr"] = {
            "class": "logging.FileHandler",
            "formatter": "json",
            "filename": os.path.join(folder, "serve.log"),
        }
        logging.config.dictConfig(config)
        access = logging.getLogger(ACCESS_LOGGER)
        ways: dict[str, tuple[ASGIApp, Callable[[], None]]] = {
            "bare application": (_answer, lambda: access.setLevel(logging.WARNING)),
            "request log off (request id only)": (
                RequestLog(_answer),
                lambda: access.setLevel(logging.WARNING),
            ),
            "request log on (a JSON line each)": (RequestLog(_answer), lambda: access.setLevel(logging.INFO)),
        }
        bare = 0.0
        for name, (app, set_level) in ways.items():
            set_level()
            cost = _cpu_per_request(app, options.requests, options.repeats)
            bare = bare or cost
            print(f"{name}: {cost * 1e6:.1f} µs of CPU a request (+{(cost - bare) * 1e6:.1f} µs)")
        size = os.path.getsize(os.path.join(folder, "serve.log"))
        lines = options.requests * options.repeats
        print(f"log written: {size / lines:.0f} bytes a line; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
