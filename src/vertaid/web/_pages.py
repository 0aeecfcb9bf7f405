"""The pages: the decision aid's case form, a stored assessment for the patient or the clinician, its PDF,
and the recent assessments.

A page shows what the engine decided and what the reports render; it decides nothing itself. The form is
an ordinary HTML form that works without JavaScript; htmx, when present, sends it without reloading
the page (see ``_case_form.html.j2``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query, Request
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from vertaid.domain._shapes import Problem
from vertaid.domain.case import InvalidCase, parse_case
from vertaid.domain.pack import KnowledgePack
from vertaid.report import Audience, html_to_pdf, render_html, stylesheet
from vertaid.services.records import StoredAssessment, get_assessment, prepare_assessment, recent_assessments
from vertaid.web._deps import Csrf, Pack, StoreDep, Write
from vertaid.web._form import (
    FormValues,
    add_fracture,
    build_form,
    case_from_form,
    form_values,
    problem_summary,
    remove_fracture,
)
from vertaid.web._security import CSRF_FIELD, CsrfTokens
from vertaid.web._templates import render_fragment, render_page
from vertaid.web._threads import refusable

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

View = Literal["patient", "clinician"]

RECENT: Final = 50
"""How many assessments the list of recent assessments shows."""

_REMOVE: Final = re.compile(r"remove:fractures\[(\d+)\]")


def _from_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-boosted") != "true"


def _form_response(
    request: Request,
    csrf: CsrfTokens,
    values: FormValues,
    *,
    problems: list[Problem] | None = None,
    status: int = 200,
    fractures: int | None = None,
    focus: str | None = None,
    notice: str | None = None,
) -> Response:
    """The case form filled with ``values`` and its problems: the whole page, or the form alone for htmx."""
    problems = problems or []
    form = build_form(values, problems, fractures=fractures, focus=focus)
    token = csrf.token_for(request)
    context: dict[str, Any] = {
        "form": form,
        "summary": problem_summary(form, problems),
        "csrf_token": token,
        "notice": notice,
    }
    response: Response
    if _from_htmx(request):
        response = Response(render_fragment("_case_form.html.j2", **context), status, media_type="text/html")
    else:
        response = render_page("case.html.j2", status, **context)
    csrf.set_cookie(request, response, token)
    return response


@router.get("/")
async def new_case(
    request: Request,
    store: StoreDep,
    csrf: Csrf,
    start_from: Annotated[str | None, Query(alias="from", max_length=200)] = None,
) -> Response:
    """The decision aid's case form: blank, or filled with the answers of a stored assessment."""
    values: FormValues = {}
    if start_from is not None:
        stored = await run_in_threadpool(get_assessment, store, start_from)
        if stored is None:
            raise HTTPException(404)
        values = form_values(stored.case)
    return _form_response(request, csrf, values)


def _submitted(form: FormData) -> dict[str, list[str]]:
    # A file control sent by hand is not a case member; its name is kept so that it is reported.
    return {name: [v if isinstance(v, str) else "" for v in form.getlist(name)] for name in form}


@router.post("/")
async def submit_case(request: Request, pack: Pack, csrf: Csrf, writer: Write) -> Response:
    """The case form sent: add or remove a fracture, or assess and store the case and open its page.

    A problem with the case shows the form again, as sent, with each problem next to its control.
    """
    async with request.form(max_fields=2000) as form:
        values = _submitted(form)
        token = form.get(CSRF_FIELD)
    if not csrf.accepts(request, token if isinstance(token, str) else None):
        notice = (
            "This form could not be accepted: it was sent from another page, or it expired. "
            "Nothing was stored. Check the answers and send it again."
        )
        return _form_response(request, csrf, values, status=403, notice=notice)
    action = values.pop("action", ["assess"])[-1]
    if action == "add:fractures":
        values, count = add_fracture(values)
        return _form_response(request, csrf, values, fractures=count, focus=f"fractures[{count - 1}].level")
    if (removal := _REMOVE.fullmatch(action)) is not None:
        values, count = remove_fracture(values, int(removal.group(1)))
        focus = f"fractures[{min(int(removal.group(1)), count - 1)}].level" if count else None
        return _form_response(request, csrf, values, fractures=count, focus=focus)
    case, problems = case_from_form(values)
    try:
        parse_case(case)
    except InvalidCase as error:
        problems = error.problems + problems
    if problems:
        return _form_response(request, csrf, values, problems=problems, status=422)
    prepared = await refusable(prepare_assessment, (InvalidCase,), case, key_name=None, pack=pack)
    if isinstance(prepared, InvalidCase):
        return _form_response(request, csrf, values, problems=prepared.problems, status=422)
    stored = await writer.commit(prepared)
    page = f"/assessments/{stored.id}"
    if _from_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": page})
    return RedirectResponse(page, status_code=303)


def _recorded(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _headline(pack: KnowledgePack, assessment: dict[str, Any], view: View) -> str:
    """The recommendation in a line: in the decision aid's plain words for the patient, with its
    strength for the clinician (the report below gives the score and the summary)."""
    decision = assessment["decision"]
    if view == "patient" and decision in pack.decision_aid.recommendations:
        return pack.decision_aid.recommendations[decision].headline.text
    wording = pack.decisions.get(decision)
    label = wording.label if wording is not None else decision
    if assessment["strength"] is not None:
        label += f" — {assessment['strength']} recommendation"
    return label


async def _stored(store: StoreDep, assessment_id: str) -> StoredAssessment:
    stored = await run_in_threadpool(get_assessment, store, assessment_id)
    if stored is None:
        raise HTTPException(404)
    return stored


@router.get("/assessments")
async def recent(store: StoreDep, pack: Pack) -> Response:
    """The most recent stored assessments, for the clinician."""
    rows = []
    for stored in await run_in_threadpool(recent_assessments, store, RECENT):
        assessment = stored.assessment
        wording = pack.decisions.get(assessment["decision"])
        rows.append(
            {
                "id": stored.id,
                "created": _recorded(stored.created_at),
                "case_id": assessment["case_id"],
                "decision": wording.label if wording is not None else assessment["decision"],
                "levels": ", ".join(assessment["target_levels"]) or "—",
                "sent_by": f"API key {stored.key_name}" if stored.key_name is not None else "web form",
            }
        )
    return render_page("assessments.html.j2", rows=rows)


@router.get("/assessments/{assessment_id}")
async def assessment_page(
    assessment_id: str, store: StoreDep, pack: Pack, view: Annotated[View, Query()] = "patient"
) -> Response:
    """A stored assessment as a page: the decision guide for the patient (the options side by side,
    icon arrays, what the guide suggests and why) or the clinician's report."""
    stored = await _stored(store, assessment_id)
    report: Markup | None = None
    if stored.knowledge_digest == pack.digest:
        rendered = await run_in_threadpool(
            render_html, stored.assessment, stored.case, pack, Audience(view), embedded=True
        )
        report = Markup(rendered.html)  # rendered by the report's own autoescaping templates
    assessment = stored.assessment
    return render_page(
        "assessment.html.j2",
        stored=stored,
        view=view,
        report=report,
        decision=assessment["decision"],
        headline=_headline(pack, assessment, view),
        summary=assessment["summary"],
        findings=assessment["findings"],
        case_id=assessment["case_id"],
        created=_recorded(stored.created_at),
    )


def _pdf(stored: StoredAssessment, pack: KnowledgePack, view: View) -> bytes:
    return html_to_pdf(render_html(stored.assessment, stored.case, pack, Audience(view)).html)


@router.get("/assessments/{assessment_id}/report.pdf")
async def assessment_pdf(
    assessment_id: str, store: StoreDep, pack: Pack, view: Annotated[View, Query()] = "patient"
) -> Response:
    """The decision guide or the clinician's report of a stored assessment, as a PDF to download."""
    stored = await _stored(store, assessment_id)
    if stored.knowledge_digest != pack.digest:
        raise HTTPException(409)
    pdf = await run_in_threadpool(_pdf, stored, pack, view)
    filename = "vertaid-" + re.sub(r"[^A-Za-z0-9_-]", "", stored.id) + f"-{view}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/static/report.css")
async def report_stylesheet() -> Response:
    """The reports' stylesheet, which the pages embedding a report link to."""
    return Response(stylesheet(), media_type="text/css", headers={"Cache-Control": "max-age=3600"})
