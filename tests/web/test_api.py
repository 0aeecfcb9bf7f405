"""The REST API (CONTRACT §5): stored assessments, problem documents, limits, keys, OpenAPI, health."""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import CONSERVATIVE, KYPHOPLASTY, VERTEBROPLASTY, vignette, vignette_case
from vertaid import InvalidCase, assess
from vertaid.services.records import get_assessment, recent_assessments
from vertaid.store import Store, open_store
from vertaid.web import create_app

ASSESSMENTS = "/api/v1/assessments"


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _count(store: Store) -> int:
    return len(recent_assessments(store, 1000))


@pytest.mark.parametrize("name", [KYPHOPLASTY, VERTEBROPLASTY, CONSERVATIVE])
def test_post_stores_the_assessment_and_returns_it_with_its_id(
    name: str, client: TestClient, store: Store, api_key: str
) -> None:
    """201 with the engine's assessment, its stored id and time, and a Location that reads it back."""
    case = vignette_case(name)

    response = client.post(ASSESSMENTS, json=case, headers=_bearer(api_key))

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    stored_id, created_at = body.pop("id"), body.pop("created_at")
    assert body == assess(case)
    assert body["decision"] == vignette(name)["expected"]["decision"]
    assert response.headers["location"] == f"{ASSESSMENTS}/{stored_id}"
    stored = get_assessment(store, stored_id)
    assert stored is not None
    assert stored.key_name == "web-tests"
    assert stored.created_at.isoformat() == created_at
    again = client.get(response.headers["location"])
    assert again.status_code == 200
    assert again.json() == response.json()


def test_an_invalid_case_is_422_with_the_problems_the_command_line_names(
    client: TestClient, store: Store, api_key: str
) -> None:
    """Every problem, with the case model's paths and messages; nothing is stored."""
    case = vignette_case(VERTEBROPLASTY)
    case["patient"]["age"] = 150
    case["fractures"][0]["level"] = "L9"
    case["patinet"] = {}
    with pytest.raises(InvalidCase) as expected:
        assess(case)
    before = _count(store)

    response = client.post(ASSESSMENTS, json=case, headers=_bearer(api_key))

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422
    assert [(p["path"], p["message"]) for p in body["problems"]] == expected.value.problems
    assert {"path": "fractures[0].level", "message": "'L9' is not a vertebral level"} in body["problems"]
    assert _count(store) == before


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "is not JSON"),
        (b"", "is empty"),
        (b"\x00\x01binary", "is binary"),
        (b"\xff\xfe{}", "is not UTF-8"),
        (b"[" * 100 + b"]" * 100, "nested too deeply"),
        (b"NaN", "is not JSON"),
    ],
)
def test_a_body_that_is_not_json_is_400_with_the_reason(
    body: bytes, reason: str, client: TestClient, store: Store, api_key: str
) -> None:
    """The same reasons the command line gives for a case file that is not a JSON document."""
    before = _count(store)

    response = client.post(
        ASSESSMENTS, content=body, headers=_bearer(api_key) | {"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert reason in response.json()["detail"]
    assert _count(store) == before


def test_a_json_document_that_is_not_an_object_is_422(client: TestClient, api_key: str) -> None:
    """A JSON list is read, then refused by the case model at the root."""
    response = client.post(ASSESSMENTS, json=[1, 2], headers=_bearer(api_key))

    assert response.status_code == 422
    assert response.json()["problems"] == [{"path": "$", "message": "a list is not an object"}]


def test_a_declared_body_over_1_mib_is_413_before_it_is_read(client: TestClient, api_key: str) -> None:
    """A Content-Length over 1 MiB is refused, with a problem document, without the key being checked."""
    body = b" " * (1024 * 1024) + b"{}"

    for headers in (_bearer(api_key), {}):
        response = client.post(ASSESSMENTS, content=body, headers=headers)

        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert "1 MiB" in response.json()["detail"]


def test_a_streamed_body_over_1_mib_is_413_stopping_at_the_limit(live_server: str, api_key: str) -> None:
    """A body sent without a length (chunked) is counted as it arrives: the server answers 413 once it
    passes 1 MiB, long before the client has sent all it offers (64 MiB)."""
    host, port = live_server.removeprefix("http://").split(":")
    piece = b" " * 65536
    framed = b"%x\r\n" % len(piece) + piece + b"\r\n"
    sent = 0
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            f"POST {ASSESSMENTS} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {api_key}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        for _ in range(1024):
            if select.select([connection], [], [], 0)[0]:
                break  # the server has answered
            try:
                connection.sendall(framed)
            except OSError:  # the server closed the connection after answering
                break
            sent += 1
        answer = connection.recv(65536)

    assert answer.startswith(b"HTTP/1.1 413")
    assert b"application/problem+json" in answer
    assert sent < 1024 // 4  # under 16 MiB of the 64 MiB offered, kernel buffers included


def test_a_body_of_exactly_1_mib_is_read(client: TestClient, api_key: str) -> None:
    """The limit is 1 MiB inclusive: a valid case padded to exactly 1 MiB is assessed."""
    text = json.dumps(vignette_case(CONSERVATIVE)).encode()
    body = text + b" " * (1024 * 1024 - len(text))

    response = client.post(ASSESSMENTS, content=body, headers=_bearer(api_key))

    assert response.status_code == 201


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer vtd_0000000000000000_" + "A" * 43},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer not-a-key"},
    ],
)
def test_a_write_without_a_key_issued_here_is_401(
    headers: dict[str, str], client: TestClient, store: Store
) -> None:
    """No key, a malformed one or one this store did not issue: 401 with a challenge; nothing stored."""
    before = _count(store)

    response = client.post(ASSESSMENTS, json=vignette_case(CONSERVATIVE), headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"
    assert _count(store) == before


def test_an_unknown_assessment_is_404_as_a_problem_document(client: TestClient) -> None:
    """GET of an id nobody stored: 404 with a problem document, for any shape of id."""
    for assessment_id in ("0" * 32, "nope", "%3Cscript%3E"):
        response = client.get(f"{ASSESSMENTS}/{assessment_id}")

        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == "Not Found"


def test_an_unknown_api_address_is_a_problem_document(client: TestClient) -> None:
    """404 and 405 under /api are problem documents too."""
    assert client.get("/api/v1/nothing").headers["content-type"] == "application/problem+json"
    response = client.delete(f"{ASSESSMENTS}/{'0' * 32}")
    assert response.status_code == 405
    assert response.json()["status"] == 405


def test_the_list_gives_the_newest_first(client: TestClient, api_key: str) -> None:
    """GET /api/v1/assessments lists recent assessments, newest first, with their decisions."""
    made = [
        client.post(ASSESSMENTS, json=vignette_case(name), headers=_bearer(api_key)).json()
        for name in (VERTEBROPLASTY, CONSERVATIVE)
    ]

    listed = client.get(ASSESSMENTS, params={"limit": 2}).json()

    assert [item["id"] for item in listed] == [made[1]["id"], made[0]["id"]]
    assert listed[0]["decision"] == "conservative_care"
    assert listed[0]["key_name"] == "web-tests"
    assert client.get(ASSESSMENTS, params={"limit": 0}).status_code == 422


def test_openapi_describes_the_api_with_the_case_models_schema(client: TestClient) -> None:
    """/openapi.json names the endpoints, the bearer key, and takes the case's schema from the case model."""
    from vertaid.domain.case import CASE_SHAPE

    document = client.get("/openapi.json").json()

    post = document["paths"][ASSESSMENTS]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"] == CASE_SHAPE.json_schema()["properties"]
    assert set(post["responses"]) >= {"201", "400", "401", "413", "422"}
    assert f"{ASSESSMENTS}/{{assessment_id}}" in document["paths"]
    assert "/healthz" in document["paths"]
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert "/" not in document["paths"]  # pages are not part of the API


def test_healthz_is_200_when_the_store_answers(client: TestClient) -> None:
    """The service and its store answer."""
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_and_every_use_of_the_store_is_503_when_it_does_not_answer(tmp_path: Path) -> None:
    """A store whose database has gone (its file replaced by a folder): /healthz, a write, a read and a
    page are 503, saying so without the cause's details."""
    from vertaid.services.keys import create_key

    database = tmp_path / "vertaid.db"
    store = open_store(f"sqlite:///{database}")
    key = create_key(store, "health")
    try:
        with TestClient(create_app(store)) as client:
            assert client.get("/healthz").status_code == 200
            store.dispose()
            for leftover in tmp_path.glob("vertaid.db*"):
                leftover.unlink()
            database.mkdir()

            response = client.get("/healthz")
            write = client.post(ASSESSMENTS, json=vignette_case(CONSERVATIVE), headers=_bearer(key))
            read = client.get(f"{ASSESSMENTS}/{'0' * 32}")
            page = client.get("/assessments")

            assert response.status_code == 503
            assert response.json() == {"status": "unavailable"}
            for answer in (write, read, page):
                assert answer.status_code == 503
                assert str(database) not in answer.text  # the cause is logged, not shown
            assert "nothing was stored" in write.json()["detail"]
    finally:
        store.dispose()
        shutil.rmtree(database, ignore_errors=True)


def test_a_restarted_application_serves_every_stored_assessment(tmp_path: Path) -> None:
    """A new application on a new store over the same SQLite file reads what the first one stored."""
    url = f"sqlite:///{tmp_path / 'vertaid.db'}"
    first = open_store(url)
    try:
        from vertaid.services.keys import create_key

        key = create_key(first, "restart")
        with TestClient(create_app(first)) as client:
            made = [
                client.post(ASSESSMENTS, json=vignette_case(name), headers=_bearer(key)).json()
                for name in (KYPHOPLASTY, VERTEBROPLASTY, CONSERVATIVE)
            ]
    finally:
        first.dispose()

    second = open_store(url)
    try:
        with TestClient(create_app(second)) as client:
            for document in made:
                assert client.get(f"{ASSESSMENTS}/{document['id']}").json() == document
                page = client.get(f"/assessments/{document['id']}?view=clinician")
                assert page.status_code == 200
                assert document["id"] in page.text
            listed = [item["id"] for item in client.get(ASSESSMENTS).json()]
            assert listed == [document["id"] for document in reversed(made)]
    finally:
        second.dispose()


def test_an_unexpected_error_is_500_without_a_traceback(
    client: TestClient, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure nobody foresaw answers 500 saying only that; its detail goes to the log, not the client."""
    import vertaid.web._api as api
    import vertaid.web._pages as pages

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(api, "record_assessment", broken)
    monkeypatch.setattr(pages, "recent_assessments", broken)

    answer = client.post(ASSESSMENTS, json=vignette_case(CONSERVATIVE), headers=_bearer(api_key))
    page = client.get("/assessments")

    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert page.status_code == 500
    for response in (answer, page):
        assert "secret internal detail" not in response.text
        assert "Traceback" not in response.text
        assert "RuntimeError" not in response.text
        assert response.headers["x-content-type-options"] == "nosniff"


def test_the_command_line_does_not_load_the_web_application() -> None:
    """FastAPI, Starlette and uvicorn are imported only by `vertaid serve` (fast `vertaid assess` start)."""
    import subprocess
    import sys

    probe = (
        "import sys, vertaid.cli._app; print(sorted(m for m in sys.modules"
        " if m.startswith(('fastapi', 'starlette', 'uvicorn', 'pydantic', 'vertaid.web'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=os.environ | {"PYTHONWARNINGS": "ignore"},
    )

    assert result.stdout == "[]\n"
