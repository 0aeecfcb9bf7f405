"""The pages over HTTP: the case form, its checks and CSRF, stored assessments, escaping, headers."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import httpx2 as httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from tests.web.conftest import CONSERVATIVE, KYPHOPLASTY, VERTEBROPLASTY, csrf_token, vignette, vignette_case
from vertaid.knowledge import load_pack
from vertaid.report import Audience, render_html
from vertaid.services.records import get_assessment, recent_assessments, record_assessment
from vertaid.store import Store
from vertaid.web import create_app
from vertaid.web._form import control_id as control_id_of
from vertaid.web._form import form_values
from vertaid.web._security import CONTENT_SECURITY_POLICY

HOSTILE_ID = '<script>alert(\'id\')</script>" onmouseover="x()" & <b>bold</b>'


def _count(store: Store) -> int:
    return len(recent_assessments(store, 1000))


def _form(client: TestClient) -> str:
    """Open the case form (which sets the CSRF cookie) and return its token."""
    page = client.get("/")
    assert page.status_code == 200
    return csrf_token(page.text)


def _post(client: TestClient, values: dict[str, list[str]], token: str, **headers: str) -> httpx.Response:
    return client.post("/", data=values | {"csrf_token": [token]}, headers=headers, follow_redirects=False)


class _Elements(HTMLParser):
    """Every element's attributes, by id."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id") is not None:
            self.by_id[str(attributes["id"])] = attributes


def test_the_form_labels_and_describes_every_control(client: TestClient) -> None:
    """Every control has a label tied to it and help tied by aria-describedby; htmx is served locally."""
    page = client.get("/").text
    parser = _Elements()
    parser.feed(page)

    controls = re.findall(r'<(?:input|select)[^>]* id="(case-[^"]+)"[^>]*name="([^"]+)"', page)
    assert len(controls) > 40
    for control_id, name in controls:
        if name == "csrf_token":
            continue
        assert f'for="{control_id}"' in page, name
        owner = control_id_of(name)  # a set of checkboxes is described as a whole, by its fieldset
        described = parser.by_id[owner].get("aria-describedby") or ""
        assert f"{owner}-help" in described.split(), name
        assert f"{owner}-help" in parser.by_id, name
    assert '<script src="/static/htmx.min.js" defer></script>' in page
    assert "<script>" not in page and "style=" not in page  # nothing inline: the CSP allows neither
    assert client.get("/static/htmx.min.js").status_code == 200


def test_bad_values_show_each_problem_next_to_its_control(client: TestClient, store: Store) -> None:
    """422: the form again, as sent; each problem beside the control of the same path and named by it."""
    token = _form(client)
    before = _count(store)
    values = form_values(vignette_case(VERTEBROPLASTY))
    values |= {"patient.age": ["150"], "pain.nrs": ["ten"], "fractures[0].level": [""]}

    response = _post(client, values, token)

    assert response.status_code == 422
    page = response.text
    parser = _Elements()
    parser.feed(page)
    expected = {
        "case-patient-age": "150 is out of range: must be at most 120",
        "case-pain-nrs": "&#39;ten&#39; is not a whole number",
        "case-fractures-0-level": "is required",
    }
    for control_id, message in expected.items():
        error_id = f"{control_id}-error-1"
        assert re.search(rf'id="{error_id}"><span class="visually-hidden">Error: </span>{message}</p>', page)
        assert error_id in (parser.by_id[control_id].get("aria-describedby") or "").split()
        assert parser.by_id[control_id].get("aria-invalid") == "true"
        assert f'href="#{control_id}"' in page  # the summary links to it
    assert 'value="ten"' in page  # what was typed is kept
    assert 'role="alert"' in page
    assert _count(store) == before


def test_a_valid_form_stores_the_case_and_opens_its_page(client: TestClient, store: Store) -> None:
    """303 to the stored assessment; the stored case is the vignette's, the decision the expected one."""
    case = vignette_case(CONSERVATIVE)

    response = _post(client, form_values(case), _form(client))

    assert response.status_code == 303
    assessment_id = response.headers["location"].removeprefix("/assessments/")
    stored = get_assessment(store, assessment_id)
    assert stored is not None
    assert stored.key_name is None
    assert (
        stored.assessment["decision"] == vignette(CONSERVATIVE)["expected"]["decision"] == "conservative_care"
    )
    page = client.get(response.headers["location"]).text
    assert 'data-decision="conservative_care"' in page


def test_htmx_gets_the_form_alone_and_a_redirect_header(client: TestClient) -> None:
    """With htmx, problems come back as the form fragment, and a stored case as HX-Redirect."""
    token = _form(client)
    headers = {"HX-Request": "true"}

    problems = _post(client, {"patient.age": ["12"]}, token, **headers)
    stored = _post(client, form_values(vignette_case(VERTEBROPLASTY)), token, **headers)

    assert problems.status_code == 422
    assert problems.text.lstrip().startswith('<form id="case-form"')
    assert "<html" not in problems.text
    assert stored.status_code == 200
    assert stored.headers["hx-redirect"].startswith("/assessments/")


def test_fractures_are_added_and_removed_without_javascript(client: TestClient, store: Store) -> None:
    """The add and remove buttons work as plain form posts: nothing stored, values kept, focus placed."""
    token = _form(client)
    before = _count(store)
    values = {"patient.age": ["81"], "fractures[0].level": ["T12"]}

    added = _post(client, values | {"action": ["add:fractures"]}, token)
    assert added.status_code == 200
    assert re.search(
        r'<select id="case-fractures-1-level" name="fractures\[1\]\.level"[^>]* autofocus>', added.text
    )
    assert 'value="81"' in added.text

    two = values | {"fractures[1].level": ["L1"], "action": ["remove:fractures[0]"]}
    removed = _post(client, two, token)
    assert removed.status_code == 200
    assert 'name="fractures[1].level"' not in removed.text
    assert re.search(r'<option value="L1" selected>', removed.text)
    assert _count(store) == before


def test_a_form_without_the_csrf_token_is_refused(client: TestClient, store: Store) -> None:
    """403 and nothing stored: no cookie, a token that does not match it, a forged one, another site."""
    case_values = form_values(vignette_case(VERTEBROPLASTY))
    before = _count(store)

    no_cookie = client.post("/", data=case_values | {"csrf_token": ["abc.def"]}, follow_redirects=False)
    token = _form(client)
    mismatch = _post(client, case_values, token[:-1] + ("0" if token[-1] != "0" else "1"))
    unsigned = token.rsplit(".", 1)[0] + "." + "0" * 64
    client.cookies.set("vertaid_csrf", unsigned)
    forged = _post(client, case_values, unsigned)
    client.cookies.clear()
    token = _form(client)
    other_site = _post(client, case_values, token, Origin="https://evil.example")
    missing = client.post("/", data=case_values, follow_redirects=False)

    for response in (no_cookie, mismatch, forged, other_site, missing):
        assert response.status_code == 403
        assert "Nothing was stored" in response.text
    assert 'value="76"' in mismatch.text  # the answers are shown again, not lost
    assert _count(store) == before
    assert _post(client, case_values, token, Origin="http://testserver").status_code == 303


def test_the_csrf_cookie_is_strict_and_hidden_from_scripts(client: TestClient) -> None:
    """The token's cookie is HttpOnly and SameSite=Strict."""
    cookie = client.get("/").headers["set-cookie"]

    assert cookie.startswith("vertaid_csrf=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie


@pytest.mark.parametrize(
    "path",
    ["/", "/assessments", "/static/htmx.min.js", "/static/report.css", "/nothing", "/api/v1/assessments"],
)
def test_every_answer_carries_the_security_headers(path: str, client: TestClient) -> None:
    """CSP (self only, no inline script, no framing), nosniff, frame denial, no referrer to other sites."""
    headers = client.get(path).headers

    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    if not path.startswith("/static/"):
        assert headers["cache-control"] == "no-store"


def test_a_hostile_case_id_is_escaped_everywhere_it_is_shown(client: TestClient, store: Store) -> None:
    """A case id full of markup appears only escaped: on both views, in the list and in the form."""
    case = vignette_case(KYPHOPLASTY) | {"id": HOSTILE_ID}
    stored = record_assessment(store, case, key_name="<img src=x onerror=alert(1)>")

    pages = [
        client.get(f"/assessments/{stored.id}?view=patient").text,
        client.get(f"/assessments/{stored.id}?view=clinician").text,
        client.get("/assessments").text,
        client.get(f"/?from={stored.id}").text,
    ]

    for page in pages:
        assert "<script>alert" not in page
        assert "<b>bold</b>" not in page
        assert '" onmouseover="' not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;alert(" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages[2]


def test_a_stored_assessment_page_embeds_the_report_for_each_view(client: TestClient, store: Store) -> None:
    """The page is the report's own rendering (not a second one): icon arrays, option grid, reasons."""
    case = vignette_case(VERTEBROPLASTY)
    stored = record_assessment(store, case, key_name=None)
    pack = client.app.state.pack  # type: ignore[attr-defined]

    for view in ("patient", "clinician"):
        page = client.get(f"/assessments/{stored.id}", params={"view": view}).text
        report = render_html(stored.assessment, case, pack, Audience(view), embedded=True).html
        assert report in page
        assert f'aria-current="page">For the {view}' in page
        assert f"/assessments/{stored.id}/report.pdf?view={view}" in page
    patient = client.get(f"/assessments/{stored.id}").text
    assert patient.count('<svg class="icon-array"') > 0
    assert 'id="option-grid"' in patient
    assert 'data-decision="vertebroplasty"' in patient
    headline = pack.decision_aid.recommendations["vertebroplasty"].headline.text
    assert headline in patient


def test_an_unknown_assessment_or_view_is_an_error_page(client: TestClient, store: Store) -> None:
    """404 for an id nobody stored, 400 for a view that does not exist, as pages, not JSON."""
    stored = record_assessment(store, vignette_case(CONSERVATIVE), key_name=None)

    missing = client.get("/assessments/" + "0" * 32)
    bad_view = client.get(f"/assessments/{stored.id}?view=family")
    bad_start = client.get("/?from=" + "0" * 32)

    assert missing.status_code == 404 and "<h1>Not Found</h1>" in missing.text
    assert bad_view.status_code == 400 and "view" in bad_view.text
    assert bad_start.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")


def test_the_pdf_is_the_report_of_the_view_asked_for(client: TestClient, store: Store) -> None:
    """A PDF download (attachment) of the clinician's report, printed from the same HTML."""
    from io import BytesIO

    from pypdf import PdfReader

    stored = record_assessment(store, vignette_case(VERTEBROPLASTY) | {"id": "pdf-case"}, key_name=None)

    response = client.get(f"/assessments/{stored.id}/report.pdf?view=clinician")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="vertaid-{stored.id}-clinician.pdf"'
    text = " ".join(page.extract_text() for page in PdfReader(BytesIO(response.content)).pages)
    assert "clinician report" in text and "pdf-case" in text


def test_the_form_starts_from_a_stored_case(client: TestClient, store: Store) -> None:
    """/?from=ID fills the form with that assessment's answers."""
    case = vignette_case(KYPHOPLASTY)
    stored = record_assessment(store, case, key_name=None)

    page = client.get(f"/?from={stored.id}").text

    assert re.search(r'name="fractures\[1\]\.level"', page)
    assert f'value="{case["patient"]["age"]}"' in page


def test_the_recent_list_names_who_sent_each_assessment(client: TestClient, store: Store) -> None:
    """The clinician's list: newest first, with the decision's label and the key or the web form."""
    from_api = record_assessment(store, vignette_case(VERTEBROPLASTY), key_name="clinic-a")
    from_form = record_assessment(store, vignette_case(CONSERVATIVE), key_name=None)

    page = client.get("/assessments").text

    rows = re.findall(r'<tr data-assessment-id="([0-9a-f]+)">(.*?)</tr>', page, re.DOTALL)
    ids = [row_id for row_id, _ in rows]
    assert ids.index(from_form.id) < ids.index(from_api.id)
    cells = dict(rows)
    assert "API key clinic-a" in cells[from_api.id] and "Vertebroplasty" in cells[from_api.id]
    assert "web form" in cells[from_form.id]


def test_an_assessment_made_with_another_pack_is_shown_as_recorded(
    tmp_path: Path, store: Store, client: TestClient
) -> None:
    """A pack that changed since: the page shows what was recorded and says why; no PDF (409)."""
    stored = record_assessment(store, vignette_case(VERTEBROPLASTY), key_name=None)
    source = resources.files("vertaid.knowledge") / "packs" / "vcf-v1"
    pack_dir = tmp_path / "pack"
    with resources.as_file(source) as folder:
        shutil.copytree(folder, pack_dir)
    meta = yaml.safe_load((pack_dir / "pack.yaml").read_text())
    meta["version"] = "1.0.1"
    (pack_dir / "pack.yaml").write_text(yaml.safe_dump(meta))
    other = load_pack(pack_dir)
    assert other.digest != stored.knowledge_digest

    with TestClient(create_app(store, other)) as newer:
        page = newer.get(f"/assessments/{stored.id}?view=clinician")
        pdf = newer.get(f"/assessments/{stored.id}/report.pdf")

    assert page.status_code == 200
    assert "another version of the knowledge pack" in page.text
    assert stored.assessment["summary"] in page.text
    assert pdf.status_code == 409
