"""Web security (issue 7): CSP with no inline script, CSRF on every form post, hostile text inert on every
page and in every report, SQL-looking text stored verbatim, API keys hashed and compared in constant
time, and the security headers on every kind of answer.

"Inert" is checked on the parsed page, not by searching for a string: no element or attribute of a
payload exists (no inline script, no event handler, no ``javascript:`` address, no htmx attribute but the
form's own), and the payload's text is there, escaped, where it was put.
"""

from __future__ import annotations

import re
import sqlite3
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from typing import Any, Final

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web.conftest import CONSERVATIVE, KYPHOPLASTY, VERTEBROPLASTY, csrf_token, vignette_case
from vertaid.domain._shapes import ListOf, Record, Shape, Text
from vertaid.domain.case import CASE_SHAPE
from vertaid.knowledge import default_pack
from vertaid.report import Audience, render_html
from vertaid.services.audit import verify_audit
from vertaid.services.keys import authenticate, create_key
from vertaid.services.records import get_assessment, recent_assessments, record_assessment
from vertaid.store import Store
from vertaid.web._form import form_values
from vertaid.web._security import CONTENT_SECURITY_POLICY

ASSESSMENTS: Final = "/api/v1/assessments"

PAYLOADS: Final = (
    "<script>alert('x1')</script>",
    '"><img src=x onerror=alert(2)>',
    "'><svg onload=alert(3)>",
    "javascript:alert(4)",
    '<a href="javascript:alert(5)">x</a>',
    '<div hx-get="/assessments" hx-trigger="load">x6</div>',
    "</textarea></title><script>alert(7)</script>",
    "{{7*7}}{% if 1 %}x8{% endif %}",
    "<!-- x9",
    "<style>body{display:none}</style>",
)
"""Markup, attribute breaks, script addresses, htmx attributes, template syntax and a comment opener."""

HOSTILE_ID: Final = " ".join(PAYLOADS)[:200]
"""Every payload in one case id (a case id is at most 200 characters: the first ones that fit)."""

SQL: Final = (
    "'; DROP TABLE assessments; --",
    "1' OR '1'='1",
    '"); DELETE FROM audit_records; --',
    "x' UNION SELECT secret_hash FROM api_keys --",
    "\\'; TRUNCATE api_keys; --",
)


def _free_text_paths(shape: Shape, path: str = "") -> list[str]:
    """The paths of every free-text member of the case model (found from its shapes)."""
    if isinstance(shape, Text):
        return [path]
    if isinstance(shape, Record):
        return [
            found
            for name, field in shape.fields.items()
            for found in _free_text_paths(field.shape, f"{path}.{name}" if path else name)
        ]
    if isinstance(shape, ListOf):
        return _free_text_paths(shape.item, f"{path}[0]")
    return []


def test_the_case_ids_are_the_only_free_text_of_the_case_model() -> None:
    """The XSS tests below put payloads in the case id because it is the case model's one free-text
    member; a new one would make this fail, and be added to them."""
    assert _free_text_paths(CASE_SHAPE) == ["id"]


class _Page(HTMLParser):
    """What a page holds that could run: inline scripts, event handlers, script addresses, htmx
    attributes, inline styles; and its text."""

    SCRIPT_ADDRESS: Final = re.compile(r"^\s*(javascript|vbscript|data:text/html)", re.IGNORECASE)

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.dangers: list[str] = []
        self.htmx: list[tuple[str, str]] = []
        self.text: list[str] = []
        self._in_script = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self._in_script = True
            if "src" not in attributes:
                self.dangers.append("an inline <script>")
        if tag == "style":
            self.dangers.append("an inline <style>")
        for name, value in attrs:
            if name.startswith("on"):
                self.dangers.append(f"<{tag} {name}>")
            if name == "style":
                self.dangers.append(f"<{tag} style>")
            if name in ("href", "src", "action", "formaction") and self.SCRIPT_ADDRESS.match(value or ""):
                self.dangers.append(f"<{tag} {name}={value}>")
            if name.startswith(("hx-", "data-hx-")):
                self.htmx.append((tag, name))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.dangers.append("script text")
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.dangers.append("a comment made of input")


FORM_HTMX: Final = {
    ("form", "hx-post"),
    ("form", "hx-target"),
    ("form", "hx-swap"),
    ("form", "hx-disabled-elt"),
}
"""The htmx attributes the case form carries itself; anything else would come from input."""


def _assert_inert(html: str, *texts: str) -> None:
    """No active content in the page but its own, and each given text shown as text."""
    page = _Page(html)
    assert page.dangers == []
    assert set(page.htmx) <= FORM_HTMX
    shown = "".join(page.text)
    for text in texts:
        assert text in shown


def _form(client: TestClient) -> str:
    return csrf_token(client.get("/").text)


def _submit(client: TestClient, values: dict[str, list[str]], **headers: str) -> httpx.Response:
    return client.post(
        "/", data=values | {"csrf_token": [_form(client)]}, headers=headers, follow_redirects=False
    )


# -- Content-Security-Policy --------------------------------------------------------------------------


def test_the_policy_lets_no_inline_script_or_style_run() -> None:
    """script-src and style-src are this site only: no 'unsafe-inline', no 'unsafe-eval', no nonce or
    hash that would let an inline script in; everything else is refused unless named, no site may frame
    the pages and no page may change its base address."""
    directives = {
        part.split()[0]: part.split()[1:] for part in CONTENT_SECURITY_POLICY.split(";") if part.strip()
    }

    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["default-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert "unsafe" not in CONTENT_SECURITY_POLICY and "nonce-" not in CONTENT_SECURITY_POLICY


# -- CSRF ------------------------------------------------------------------------------------------


def _posts(routes: Any) -> set[str]:
    """The paths of every POST route, routers included in routers too."""
    found: set[str] = set()
    for route in routes:
        included = getattr(getattr(route, "original_router", None), "routes", None)
        if included is not None:
            found |= _posts(included)
        elif "POST" in (getattr(route, "methods", None) or set()):
            found.add(str(route.path))
    return found


def test_the_case_form_is_the_only_form_post(app: FastAPI) -> None:
    """Every POST that is not the REST API or CDS Hooks (which take keys and tokens, never cookies) is
    the case form's, so the CSRF tests of POST / cover every form post."""
    posts = _posts(app.routes)

    assert {"/api/v1/assessments", "/cds-services/{service_id}"} <= posts  # the walk finds them all
    assert {path for path in posts if not path.startswith(("/api/", "/cds-services"))} == {"/"}


@pytest.mark.parametrize("action", ["assess", "add:fractures", "remove:fractures[0]"])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("token", ["missing", "wrong", "forged"])
def test_every_form_action_without_its_csrf_token_is_refused(
    action: str, htmx: bool, token: str, client: TestClient, store: Store
) -> None:
    """Assess, add a level and remove a level, as a page or through htmx: without the cookie's token,
    with a wrong one, or with a token of the right form whose signature is forged: 403, nothing stored."""
    values = form_values(vignette_case(KYPHOPLASTY)) | {"action": [action]}
    held = _form(client)
    sent = {
        "missing": [],
        "wrong": [held[:-4] + "0000"],
        "forged": ["A" * 43 + "." + "0" * 64],
    }[token]
    if token == "forged":
        client.cookies.set("vertaid_csrf", sent[0])
    headers = {"HX-Request": "true"} if htmx else {}
    before = len(recent_assessments(store, 1000))

    response = client.post("/", data=values | {"csrf_token": sent}, headers=headers, follow_redirects=False)

    assert response.status_code == 403
    assert "HX-Redirect" not in response.headers
    assert len(recent_assessments(store, 1000)) == before


# -- hostile text on every page and in every report ------------------------------------------------------


def test_hostile_text_typed_into_every_control_is_shown_back_inert(client: TestClient, store: Store) -> None:
    """The form sent with a payload in every control (text, numbers, choices, checkboxes) comes back
    422 with each problem, as a page and as an htmx fragment: nothing of the payloads is active, and
    what was typed is shown back as text. Nothing is stored."""
    page = client.get("/").text
    names = set(re.findall(r'name="([^"]+)"', page)) - {"csrf_token", "action"}
    values = {name: [PAYLOADS[index % len(PAYLOADS)]] for index, name in enumerate(sorted(names))}
    before = len(recent_assessments(store, 1000))

    full = _submit(client, values)
    fragment = _submit(client, values, **{"HX-Request": "true"})

    for response in (full, fragment):
        assert response.status_code == 422
        _assert_inert(response.text, PAYLOADS[0], PAYLOADS[1])
    assert len(recent_assessments(store, 1000)) == before


@pytest.fixture(scope="module")
def hostile(store: Store) -> dict[str, Any]:
    """An assessment whose case id holds every payload, sent by a key whose name holds one."""
    key_name = PAYLOADS[1][:100]
    stored = record_assessment(store, vignette_case(KYPHOPLASTY) | {"id": HOSTILE_ID}, key_name=key_name)
    return {"id": stored.id, "case": stored.case, "assessment": stored.assessment, "key_name": key_name}


@pytest.mark.parametrize(
    "address",
    ["/assessments/{id}?view=patient", "/assessments/{id}?view=clinician", "/assessments", "/?from={id}"],
)
def test_a_hostile_case_id_and_key_name_are_inert_on_every_page(
    address: str, hostile: dict[str, Any], client: TestClient
) -> None:
    """The decision guide, the clinician's view, the recent list and the form filled from the case show
    the case id (and the list the key's name) as text, with nothing of it active."""
    response = client.get(address.format(id=hostile["id"]))

    assert response.status_code == 200
    expected = [hostile["key_name"]] if address == "/assessments" else []
    if not address.startswith("/?"):
        expected.append(HOSTILE_ID)
    _assert_inert(response.text, *expected)
    if address.startswith("/?"):  # in the form, the id is a control's value
        assert re.search(r'value="[^"]*&lt;script&gt;alert\(&#39;x1&#39;\)', response.text)


def test_a_case_id_sent_through_the_form_is_inert_on_its_result_page(client: TestClient) -> None:
    """The case id typed into the form: stored, and shown inert on the page the form opens."""
    values = form_values(vignette_case(VERTEBROPLASTY) | {"id": HOSTILE_ID})

    sent = _submit(client, values)
    page = client.get(sent.headers["location"])

    assert sent.status_code == 303
    _assert_inert(page.text, HOSTILE_ID)


@pytest.mark.parametrize("audience", list(Audience))
def test_a_hostile_case_id_is_inert_in_the_html_report(audience: Audience, hostile: dict[str, Any]) -> None:
    """The report as a file (``vertaid report``'s HTML) shows the case id as text; the only style is the
    report's own stylesheet, the only script none."""
    html = render_html(hostile["assessment"], hostile["case"], default_pack(), audience).html
    without_stylesheet = re.sub(r"<style>[^<]*</style>", "", html, count=1)

    _assert_inert(without_stylesheet, HOSTILE_ID)


@pytest.mark.parametrize("view", ["patient", "clinician"])
def test_a_hostile_case_id_is_printed_as_text_in_the_pdf(
    view: str, hostile: dict[str, Any], client: TestClient
) -> None:
    """The PDF of each view prints the payloads as text (an element made of them would have asked for
    x, or a stylesheet: the printer refuses every fetch, so the PDF would not be made)."""
    from pypdf import PdfReader

    response = client.get(f"/assessments/{hostile['id']}/report.pdf?view={view}")

    assert response.status_code == 200
    text = " ".join(page.extract_text() for page in PdfReader(BytesIO(response.content)).pages)
    flat = re.sub(r"\s+", "", text)
    for payload in ("<script>alert('x1')</script>", '"><imgsrc=xonerror=alert(2)>'):
        assert re.sub(r"\s+", "", payload) in flat


# -- SQL injection ---------------------------------------------------------------------------------------


def test_sql_in_a_case_id_and_a_key_name_is_stored_and_returned_verbatim(
    client: TestClient, store: Store, database_url: str
) -> None:
    """SQL in case ids (through the API) and in a key's name: each assessment reads back with its id
    exactly as sent, the tables are all there, the audit trail is whole; SQL in an address is a 404."""
    key_name = SQL[0]
    key = create_key(store, key_name)
    made = []
    for text in SQL:
        response = client.post(
            ASSESSMENTS,
            json=vignette_case(CONSERVATIVE) | {"id": text},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 201
        made.append(response.json()["id"])

    for assessment_id, text in zip(made, SQL, strict=True):
        read = client.get(f"{ASSESSMENTS}/{assessment_id}").json()
        assert read["case_id"] == text
        stored = get_assessment(store, assessment_id)
        assert stored is not None and stored.key_name == key_name and stored.case["id"] == text
    assert authenticate(store, key) == key_name
    assert client.get(f"{ASSESSMENTS}/' OR '1'='1").status_code == 404
    assert client.get(ASSESSMENTS, params={"limit": "1; DROP TABLE assessments"}).status_code == 422
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"assessments", "audit_records", "api_keys"} <= tables
    assert verify_audit(store).whole


# -- API keys ---------------------------------------------------------------------------------------------


def test_a_key_is_stored_only_as_a_hash(store: Store, database_url: str) -> None:
    """Neither the key nor its secret is anywhere in the database: not in any table's rows, not in the
    file's bytes (write-ahead log included); its sha256 is."""
    import hashlib

    key = create_key(store, "hash-only")
    secret = key.split("_", 2)[2]  # vtd_<key id>_<secret>: the secret may hold "_" itself
    path = Path(database_url.removeprefix("sqlite:///"))

    with sqlite3.connect(path) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [repr(row) for table in tables for row in connection.execute(f'SELECT * FROM "{table}"')]
    on_disk = b"".join(file.read_bytes() for file in path.parent.glob(path.name + "*") if file.is_file())

    everything = "\n".join(rows)
    assert secret not in everything and key not in everything
    assert secret.encode() not in on_disk
    assert hashlib.sha256(secret.encode()).hexdigest() in everything


def test_a_presented_key_is_compared_by_its_hash_in_constant_time(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The secret presented is hashed and compared with the stored hash by hmac.compare_digest (whose
    time does not depend on how much matched), for a right secret and for a wrong one."""
    import hmac

    key = create_key(store, "constant-time")
    compared: list[tuple[str, str]] = []
    compare = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")

    assert (authenticate(store, key), authenticate(store, wrong)) == ("constant-time", None)
    assert len(compared) == 2
    for stored_hash, presented_hash in compared:
        assert re.fullmatch(r"[0-9a-f]{64}", stored_hash) and re.fullmatch(r"[0-9a-f]{64}", presented_hash)
    assert compared[0][0] == compared[1][0] != compared[1][1]


# -- headers on every answer --------------------------------------------------------------------------

SECURITY_HEADERS: Final = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


def _answers(client: TestClient, api_key: str, stored_id: str) -> dict[str, httpx.Response]:
    """One answer of every kind the application gives, by what it is."""
    bearer = {"Authorization": f"Bearer {api_key}"}
    valid = vignette_case(CONSERVATIVE)
    token = _form(client)
    return {
        "form 200": client.get("/"),
        "form 303": client.post(
            "/", data=form_values(valid) | {"csrf_token": [token]}, follow_redirects=False
        ),
        "form 403": client.post("/", data=form_values(valid), follow_redirects=False),
        "form 422": client.post("/", data={"patient.age": ["x"], "csrf_token": [token]}),
        "form 413": client.post("/", content=b"x" * (1024 * 1024 + 1)),
        "page 200": client.get(f"/assessments/{stored_id}"),
        "page 400": client.get(f"/assessments/{stored_id}?view=x"),
        "page 404": client.get("/nothing"),
        "page 405": client.put("/assessments"),
        "pdf 200": client.get(f"/assessments/{stored_id}/report.pdf"),
        "list 200": client.get("/assessments"),
        "api 201": client.post(ASSESSMENTS, json=valid, headers=bearer),
        "api 400": client.post(ASSESSMENTS, content=b"{", headers=bearer),
        "api 401": client.post(ASSESSMENTS, json=valid),
        "api 404": client.get(f"{ASSESSMENTS}/{'0' * 32}"),
        "api 405": client.delete(ASSESSMENTS),
        "api 413": client.post(ASSESSMENTS, content=b" " * (1024 * 1024 + 1), headers=bearer),
        "api 415": client.post(ASSESSMENTS, content=b"{}", headers=bearer | {"Content-Type": "text/plain"}),
        "api 422": client.post(ASSESSMENTS, json={}, headers=bearer),
        "api 422 parameters": client.get(ASSESSMENTS, params={"limit": 0}),
        "api 200": client.get(f"{ASSESSMENTS}/{stored_id}"),
        "openapi": client.get("/openapi.json"),
        "docs (off) 404": client.get("/docs"),
        "healthz": client.get("/healthz"),
        "static script": client.get("/static/htmx.min.js"),
        "static stylesheet": client.get("/static/vertaid.css"),
        "report stylesheet": client.get("/static/report.css"),
        "static 404": client.get("/static/nothing.js"),
        "cds discovery 401": client.get("/cds-services"),
        "cds service 401": client.post("/cds-services/vertaid-patient-view", json={}),
        "cds preflight": client.options(
            "/cds-services",
            headers={"Origin": "https://sandbox.example", "Access-Control-Request-Method": "POST"},
        ),
        "head": client.head("/"),
    }


def test_every_kind_of_answer_carries_the_security_headers(
    client: TestClient, api_key: str, store: Store
) -> None:
    """Pages, errors (400, 401, 403, 404, 405, 413, 415, 422), redirects, the PDF, the API, the OpenAPI
    description, static files and CDS Hooks answers: each has the CSP, nosniff, frame denial and the
    referrer policy; everything but static files is not to be cached."""
    stored = record_assessment(store, vignette_case(CONSERVATIVE), key_name=None)

    answers = _answers(client, api_key, stored.id)

    statuses = {name: response.status_code for name, response in answers.items()}
    for name, response in answers.items():
        expected = name.split()[-1]
        if expected.isdigit():
            assert response.status_code == int(expected), (name, statuses)
        for header, value in SECURITY_HEADERS.items():
            assert response.headers.get(header) == value, (name, header)
        if "static" not in name and "stylesheet" not in name:
            assert response.headers.get("cache-control") == "no-store", name
