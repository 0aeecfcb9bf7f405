"""``vertaid serve`` (the web application and the REST API) and ``vertaid demo`` (demo cases and a key).

Both open the store named by ``VERTAID_DATABASE_URL``. FastAPI, uvicorn and the store are imported only
when one of these commands runs, so ``vertaid assess`` starts as fast as before.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from vertaid.cli._store import EXIT_UNUSABLE, _fail, _opened_store

__all__ = ["demo", "serve"]


def serve(
    host: Annotated[str, typer.Option("--host", help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="The port to listen on.")
    ] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Worker processes (each opens the store).")
    ] = 1,
    access_log: Annotated[
        bool, typer.Option(help="Log a line for every request (method, route, status, time taken).")
    ] = True,
) -> None:
    """Serve the web application (the decision aid) and the REST API, over the store VERTAID_DATABASE_URL
    names. Logs one JSON object a line on standard error, never a case, a body, a query or a key."""
    import logging

    import uvicorn

    from vertaid.cds import CdsConfigurationError, CdsSettings, warm_up
    from vertaid.logs import configure_logging
    from vertaid.web import SECRET_KEY_VARIABLE

    try:  # checked before anything starts: a worker could only fail with a traceback
        cds = CdsSettings.from_environment()
    except CdsConfigurationError as error:
        _fail(f"vertaid serve: {error}", EXIT_UNUSABLE)

    settings: dict[str, Any] = {
        "host": host,
        "port": port,
        # uvicorn's access log holds the path and its query: vertaid's request log stands in for it.
        "access_log": False,
        "log_config": configure_logging(access_log=access_log),  # applied again in each worker
        "server_header": False,
    }
    if workers > 1:
        # Each worker makes its own application; they sign the forms' CSRF tokens with one key.
        os.environ.setdefault(SECRET_KEY_VARIABLE, secrets.token_hex(32))
        with _opened_store():  # creates and migrates the store once, before the workers open it
            pass
        uvicorn.run("vertaid.web:app_from_environment", factory=True, workers=workers, **settings)
        return
    from vertaid.web import create_app

    with _opened_store() as store:
        logging.getLogger("vertaid.cli").info(
            "serving", extra={"url": f"http://{host}:{port}/", "store": store.url}
        )
        app = create_app(store, cds=cds)
        warm_up()  # the FHIR models loaded and kept out of full garbage collections
        uvicorn.run(app, **settings)


def _demo_case(path: Path) -> dict[str, Any]:
    """The case in a demo file: a worked case (its ``case`` member) or a case on its own."""
    document = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(document, dict) and isinstance(document.get("case"), dict):
        case: dict[str, Any] = document["case"]
        return case
    if not isinstance(document, dict):
        raise ValueError(f"{path}: not a JSON object")
    return document


def demo(
    folder: Annotated[
        Path,
        typer.Argument(
            metavar="FOLDER", help="A folder of demo cases (*.json: a case, or a worked case with a 'case')."
        ),
    ],
) -> None:
    """Load the demo cases in FOLDER into the store (each case id once) and create a demo API key."""
    from vertaid.domain.case import InvalidCase, parse_case
    from vertaid.services.keys import create_key
    from vertaid.services.records import MAX_RECENT, recent_assessments, record_assessment

    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        _fail(f"vertaid demo: no *.json case files in {folder}", EXIT_UNUSABLE)
    cases = []
    for path in files:  # every file is checked before anything is stored
        try:
            cases.append(_demo_case(path))
            parse_case(cases[-1])
        except InvalidCase as error:
            _fail(
                "\n".join(f"{path}: {where}: {message}" for where, message in error.problems), EXIT_UNUSABLE
            )
        except (OSError, ValueError) as error:
            _fail(f"vertaid demo: {path}: {error}", EXIT_UNUSABLE)
    with _opened_store() as store:
        name = "demo-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        key = create_key(store, name)
        # Loaded once: a case whose id is among the stored assessments is not loaded again.
        present = {stored.assessment["case_id"] for stored in recent_assessments(store, MAX_RECENT)}
        loaded = 0
        for case in cases:
            if case.get("id") is not None and case["id"] in present:
                continue
            record_assessment(store, case, key_name=name)
            loaded += 1
        where = store.url
    sys.stderr.write(
        f"vertaid: {loaded} demo cases loaded into {where} ({len(cases) - loaded} already there)\n"
        f"vertaid: a demo API key named {name!r}, shown only once; "
        "send it as 'Authorization: Bearer <key>':\n"
    )
    sys.stdout.write(key + "\n")
