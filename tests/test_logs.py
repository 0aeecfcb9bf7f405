"""The logs hold no case content and no token: a full run of ``vertaid serve`` is scanned for them.

A real server (two worker processes, the request log on) is sent the form, API writes and reads with a
key, CDS Hooks calls and feedback with a JWT, and refused requests (401, 404, 413, 422). The case's
values are planted where a leak would show: distinctive strings in its id (the case's free text), in a
FHIR patient's name, in a feedback comment, in paths and query strings, and distinctive numbers in its
measurements. Every line the server wrote must be a JSON object, and none may hold any of them, the API
key or a JWT.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from tests.cds.conftest import (
    ISSUER,
    PATIENT_VIEW,
    Signer,
    example_bundle,
    hook_request,
    make_signer,
    prefetch_of,
)
from tests.web.conftest import csrf_token, free_port, vignette_case
from vertaid.logs import json_formatter, log_config
from vertaid.services.keys import create_key
from vertaid.store import open_store
from vertaid.web._form import form_values

PLANTED_ID: Final = "Quixworth-Zebedee-case-7f3a91"
"""A case id (the case's free text) that must never reach the log."""
PLANTED_NUMBERS: Final = ("3.14159", "37.2468", "6.4821", "41.9137")
"""Measurements planted in the cases (a T-score, a height loss, weeks of care, a kyphotic angle)."""
PLANTED_NAME: Final = "Wolfeschlegel-Fhir-Patient"
PLANTED_COMMENT: Final = "Overridden-because-Quillfeather-said-so"
PLANTED_PATH: Final = "Marmaduke-in-a-path"
PLANTED_QUERY: Final = "Marmaduke-in-a-query"

PLANTED: Final = (PLANTED_ID, *PLANTED_NUMBERS, PLANTED_NAME, PLANTED_COMMENT, PLANTED_PATH, PLANTED_QUERY)


def _planted_case(case_id: str = PLANTED_ID) -> dict[str, Any]:
    case = vignette_case("19-one-healed-one-fresh")
    case["id"] = case_id
    case["patient"]["t_score"] = -3.14159
    case["fractures"][1]["height_loss_percent"] = 37.2468
    case["fractures"][1]["kyphotic_angle_deg"] = 41.9137
    case["conservative_care"]["weeks"] = 6.4821
    return case


@dataclass
class Server:
    """A ``vertaid serve`` process: its base URL, API key, token signer and the file of its logs."""

    base: str
    key: str
    signer: Signer
    log: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> list[str]:
        """Stop the server as an operator would (SIGTERM) and return the lines it wrote."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``vertaid serve --workers 2`` over an SQLite store of its own, trusting a CDS Hooks client."""
    folder = tmp_path_factory.mktemp("logs")
    database_url = f"sqlite:///{folder / 'vertaid.db'}"
    store = open_store(database_url)
    try:
        key = create_key(store, "log-test")
    finally:
        store.dispose()
    signer = make_signer(folder)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {name: value for name, value in os.environ.items() if name != "VERTAID_DEBUG"}
    environment |= {
        "VERTAID_DATABASE_URL": database_url,
        "VERTAID_CDS_ISSUERS": json.dumps({ISSUER: str(signer.jwks_path)}),
        "VERTAID_CDS_BASE_URL": base,
    }
    log = folder / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("vertaid")), "serve", "--port", str(port), "--workers", "2"],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=folder,
        )
    started = Server(base, key, signer, log, process)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("vertaid serve did not start:\n" + "\n".join(started.stop()))
            time.sleep(0.1)
        yield started
    finally:
        started.stop()


def _full_run(server: Server) -> tuple[set[tuple[str, str | None, int]], list[str]]:
    """Every kind of request the service answers; the (method, route, status) of each, and every secret
    the requests carried (the key, the JWTs, the CSRF token)."""
    sent: set[tuple[str, str | None, int]] = set()
    secrets = [server.key]
    with httpx.Client(base_url=server.base, timeout=30) as client:

        def call(method: str, route: str | None, expected: int, url: str, **options: Any) -> httpx.Response:
            response = client.request(method, url, **options)
            assert expected == response.status_code, (url, response.text[:300])
            assert response.headers["x-request-id"]
            sent.add((method, route, expected))
            return response

        key = {"Authorization": f"Bearer {server.key}"}
        # The form: shown, sent with the planted case, the result page, the form filled from it.
        page = call("GET", "/", 200, "/")
        token = csrf_token(page.text)
        secrets.append(token)
        values = form_values(_planted_case(PLANTED_ID + "-form")) | {"csrf_token": [token]}
        posted = call("POST", "/", 303, "/", data=values, follow_redirects=False)
        page_path = posted.headers["location"]
        call("GET", "/assessments/{assessment_id}", 200, page_path + "?view=clinician")
        call("GET", "/", 200, f"/?from={page_path.rsplit('/', 1)[1]}")
        invalid_form = values | {"patient.age": [PLANTED_QUERY], "csrf_token": [token]}
        call("POST", "/", 422, "/", data=invalid_form)
        # The API: a write with the key, reads, and refusals.
        created = call(
            "POST", "/api/v1/assessments", 201, "/api/v1/assessments", json=_planted_case(), headers=key
        )
        assert PLANTED_ID == created.json()["case_id"]  # the planted values did reach the server
        stored_id = created.json()["id"]
        call("GET", "/api/v1/assessments/{assessment_id}", 200, f"/api/v1/assessments/{stored_id}")
        call("GET", "/api/v1/assessments", 200, "/api/v1/assessments?limit=5")
        call("GET", "/assessments", 200, "/assessments")
        call("POST", "/api/v1/assessments", 401, "/api/v1/assessments", json=_planted_case())
        wrong = {"Authorization": f"Bearer {server.key[:-4]}AAAA"}
        secrets.append(wrong["Authorization"].split()[1])
        call("POST", "/api/v1/assessments", 401, "/api/v1/assessments", json=_planted_case(), headers=wrong)
        invalid = _planted_case() | {"pain": {"nrs": PLANTED_QUERY}}
        call("POST", "/api/v1/assessments", 422, "/api/v1/assessments", json=invalid, headers=key)
        call("GET", "/api/v1/assessments/{assessment_id}", 404, f"/api/v1/assessments/{PLANTED_PATH}")
        call("GET", None, 404, f"/{PLANTED_PATH}?{PLANTED_QUERY}=1")
        call("GET", "/api/v1/assessments", 422, f"/api/v1/assessments?limit={PLANTED_QUERY}")
        too_large = json.dumps(_planted_case() | {"padding": PLANTED_ID * 40_000})
        # Refused on its length before it is routed: no route to log.
        call("POST", None, 413, "/api/v1/assessments", content=too_large, headers=key)

        # CDS Hooks: discovery, a call whose prefetch names the patient, feedback with a comment, a
        # forged token.
        def signed(path: str, **options: Any) -> dict[str, str]:
            token = server.signer.token(server.base + path, **options)
            secrets.append(token)
            return {"Authorization": f"Bearer {token}"}

        call("GET", "/cds-services", 200, "/cds-services", headers=signed("/cds-services"))
        bundle = example_bundle("02-collapse-over-30")
        bundle["entry"][0]["resource"]["name"] = [{"family": PLANTED_NAME, "given": [PLANTED_ID]}]
        service = f"/cds-services/{PATIENT_VIEW}"
        hook = hook_request("patient-view", prefetch_of(bundle))
        cards = call("POST", "/cds-services/{service_id}", 200, service, json=hook, headers=signed(service))
        card = cards.json()["cards"][0]["uuid"]
        comment = {"userComment": PLANTED_COMMENT}
        feedback = {
            "feedback": [
                {
                    "card": card,
                    "outcome": "overridden",
                    "overrideReason": comment,
                    "outcomeTimestamp": "2025-06-02T09:05:00Z",
                }
            ]
        }
        feedback_path = service + "/feedback"
        call(
            "POST",
            "/cds-services/{service_id}/feedback",
            200,
            feedback_path,
            json=feedback,
            headers=signed(feedback_path),
        )
        expired = signed(service, issued_ago=7200)
        call("POST", "/cds-services/{service_id}", 401, service, json=hook, headers=expired)
    return sent, secrets


def test_a_full_run_logs_json_lines_without_case_content_or_tokens(server: Server) -> None:
    """Every line is a JSON object with time, level and event; every request answered has its line
    (method, route template, status, duration, request id); no planted value, key or JWT appears."""
    sent, secrets = _full_run(server)

    lines = [line for line in server.stop() if line.strip()]

    objects = [json.loads(line) for line in lines]
    assert all(isinstance(each, dict) and {"time", "level", "event"} <= each.keys() for each in objects)
    logged_requests = {
        (each["method"], each["route"], each["status"])
        for each in objects
        if each.get("logger") == "vertaid.access"
    }
    assert sent <= logged_requests
    assert all(
        isinstance(each["duration_ms"], float | int) and len(each["request_id"]) == 16
        for each in objects
        if each.get("logger") == "vertaid.access"
    )
    assert any(each["event"] == "CDS Hooks call refused" for each in objects)
    log = "\n".join(lines)
    leaked = [value for value in (*PLANTED, *secrets) if value in log]
    assert leaked == []
    jwt_parts = [part for token in secrets if token.count(".") == 2 for part in token.split(".")[1:]]
    assert [part for part in jwt_parts if part in log] == []
    assert server.key.rsplit("_", 1)[1] not in log  # the key's secret part


def test_an_exception_is_logged_by_its_type_and_frames_never_its_message() -> None:
    """A logged traceback keeps the exception's type, its cause's type and where it was raised, and
    drops the messages, which may quote a case."""
    try:
        try:
            raise KeyError(PLANTED_ID)
        except KeyError as error:
            raise ValueError(f"bad value {PLANTED_NUMBERS[0]}") from error
    except ValueError:
        record = logging.LogRecord("vertaid.web", logging.ERROR, __file__, 1, "unexpected error", (), None)
        record.exc_info = sys.exc_info()

    line = json.loads(json_formatter().format(record))

    assert "unexpected error" == line["event"]
    assert "builtins.ValueError" == line["exception"]["type"]
    assert ["KeyError"] == line["exception"]["causes"]
    assert any("test_an_exception_is_logged" in frame for frame in line["exception"]["frames"])
    assert PLANTED_ID not in json.dumps(line) and PLANTED_NUMBERS[0] not in json.dumps(line)


def test_the_request_log_can_be_turned_off_and_library_urls_are_not_logged() -> None:
    """``--no-access-log`` raises only the request log's level; httpx's request lines (a FHIR read's
    URL holds a patient's id) and uvicorn's access lines (path and query) are never at INFO."""
    on, off = log_config(access_log=True)["loggers"], log_config(access_log=False)["loggers"]

    assert ("INFO", "WARNING") == (on["vertaid.access"]["level"], off["vertaid.access"]["level"])
    assert all(on[name]["level"] == "WARNING" for name in ("httpx", "httpcore", "uvicorn.access"))
