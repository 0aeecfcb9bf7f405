"""The REST API, ``/api/v1`` (CONTRACT §5): assess and store a case, read a stored assessment back.

A case is read as the command line reads a case file (the same reasons for a body that is not a JSON
document) and checked by the case model (the same paths and messages for an invalid case). Writes need
an API key; the key's name is recorded with the assessment in the audit trail.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from vertaid.domain.case import CASE_SCHEMA_ID, CASE_SHAPE, InvalidCase
from vertaid.domain.pack import KnowledgePack
from vertaid.services._json_text import UnreadableInput, parse_json_text
from vertaid.services.records import (
    PreparedAssessment,
    StoredAssessment,
    get_assessment,
    prepare_assessment,
    recent_assessments,
)
from vertaid.web._deps import ApiKeyName, StoreDep, Writer
from vertaid.web._errors import PROBLEM_JSON, problem_response
from vertaid.web._schemas import AssessmentSummary, CaseProblems, Problem, StoredAssessmentDocument

__all__ = ["assessment_document", "router"]

router = APIRouter(prefix="/api/v1", tags=["assessments"])

_CASE_SCHEMA: Final = {"$id": CASE_SCHEMA_ID, **CASE_SHAPE.json_schema()}

INLINE_BODY_BYTES: Final = 16 * 1024
"""Bodies up to this size are assessed on the event loop, larger ones on the thread pool. A case is a
few kilobytes (a vignette is about 1 KB; seventeen fractures, the most a case may have, about 4)."""


def _problem(description: str, model: type[Problem] = Problem) -> dict[str, Any]:
    return {"description": description, "model": model, "content": {PROBLEM_JSON: {}}}


def assessment_document(stored: StoredAssessment) -> dict[str, Any]:
    """A stored assessment as the API gives it: the assessment with its ``id`` and ``created_at``."""
    return {"id": stored.id, "created_at": stored.created_at.isoformat(), **stored.assessment}


def _prepared(raw: bytes, key_name: str, pack: KnowledgePack) -> PreparedAssessment | Response:
    """The assessment of the case in a request's body, made ready to store (not stored); or the answer
    refusing the body: 400 when it is not a JSON document, 422 when it is not a valid case.

    The refusal is an answer, not an exception, so that none crosses back from the thread pool: raised
    there, it would be kept in a reference cycle with the request's body and parsed document until the
    next full garbage collection (measured: 7 MB per refused 1 MiB body, 1.4 GB before a collection).
    """
    try:
        return prepare_assessment(parse_json_text(raw), key_name=key_name, pack=pack)
    except UnreadableInput as error:
        return problem_response(400, f"The body {error}.")
    except InvalidCase as error:
        return problem_response(422, "The body is not a valid vertaid.case/1.", problems=error.problems)


def _declared_json(content_type: str | None) -> bool:
    """Whether a body's declared type is JSON (``application/json``, ``application/*+json``), or none
    is declared (a client that says nothing is read as sending JSON)."""
    if content_type is None:
        return True
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _document_text(assessment_id: str, created_at: datetime, assessment_json: str) -> bytes:
    """What :func:`assessment_document` gives, as JSON, from the assessment's canonical JSON text as it
    was made for the store: a 30 KB assessment is not encoded a second time."""
    head = json.dumps({"id": assessment_id, "created_at": created_at.isoformat()}, separators=(",", ":"))
    return f"{head[:-1]},{assessment_json[1:]}".encode()


def _json(document: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status_code=status, media_type="application/json", headers=headers)


@router.post(
    "/assessments",
    status_code=201,
    summary="Assess a case and store the assessment",
    response_model=None,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A vertaid.case/1 document (at most 1 MiB).",
            "content": {"application/json": {"schema": _CASE_SCHEMA}},
        }
    },
    responses={
        201: {
            "description": "Assessed and stored (acknowledged once committed).",
            "model": StoredAssessmentDocument,
            "headers": {"Location": {"description": "The stored assessment", "schema": {"type": "string"}}},
        },
        400: _problem(
            "The body is not a JSON document (empty, binary, not UTF-8, not JSON, nested too deeply)."
        ),
        401: _problem("No API key, or one this service did not issue."),
        413: _problem("The body is larger than 1 MiB."),
        415: _problem("The body is declared as something other than JSON (Content-Type)."),
        422: _problem(
            "The body is not a valid vertaid.case/1: every problem by its JSON path.", CaseProblems
        ),
        503: _problem("The store does not answer; nothing was stored."),
    },
)
async def create_assessment(request: Request, key_name: ApiKeyName) -> Response:
    """Assess the case in the body, store the assessment with its audit record and return it with its
    stored ``id``. Nothing is stored for a body that is not a valid case."""
    # Read from the application's state here rather than through dependencies: this is the busiest path,
    # and resolving three fewer dependencies (these two, and the key's store) took up to a tenth off the
    # server's CPU per write.
    pack: KnowledgePack = request.app.state.pack
    writer: Writer = request.app.state.writer
    if not _declared_json(request.headers.get("content-type")):
        return problem_response(415, "The body must be a JSON document: Content-Type: application/json.")
    raw = await request.body()
    if len(raw) <= INLINE_BODY_BYTES:
        # A case of a few kilobytes is read and assessed in about a millisecond. Sending it to a
        # thread and back would cost a fifth as much again in CPU (the GIL changes hands twice)
        # and run no faster, so it runs here, on the event loop.
        prepared = _prepared(raw, key_name, pack)
    else:
        # A larger body may hold anything up to 1 MiB, and take long to refuse: on the thread pool,
        # it cannot hold up every other request.
        prepared = await run_in_threadpool(_prepared, raw, key_name, pack)
    if isinstance(prepared, Response):
        return prepared
    await writer.commit(prepared)  # on the writing thread, with whatever else waits; answered once committed
    entry = prepared.entry
    location = f"{router.prefix}/assessments/{entry.id}"
    body = _document_text(entry.id, entry.created_at, entry.assessment_json)
    return Response(body, status_code=201, media_type="application/json", headers={"Location": location})


@router.get(
    "/assessments/{assessment_id}",
    summary="A stored assessment",
    response_model=None,
    responses={
        200: {"description": "The stored assessment.", "model": StoredAssessmentDocument},
        404: _problem("No assessment is stored under this id."),
        422: _problem("The request's parameters are not valid.", CaseProblems),
        503: _problem("The store does not answer."),
    },
)
async def read_assessment(assessment_id: str, store: StoreDep) -> Response:
    """The stored assessment with this id, as it was returned when it was made."""
    stored = await run_in_threadpool(get_assessment, store, assessment_id)
    if stored is None:
        return problem_response(404, "No assessment is stored under this id.")
    return _json(assessment_document(stored))


@router.get(
    "/assessments",
    summary="The most recent stored assessments",
    response_model=list[AssessmentSummary],
    responses={
        422: _problem("The request's parameters are not valid (a limit out of range).", CaseProblems),
        503: _problem("The store does not answer."),
    },
)
async def list_assessments(
    store: StoreDep, limit: Annotated[int, Query(ge=1, le=500, description="How many, newest first")] = 50
) -> JSONResponse:
    """The most recent stored assessments, newest first: each one's id, time, case id and decision."""
    stored = await run_in_threadpool(recent_assessments, store, limit)
    return JSONResponse(
        [
            {
                "id": item.id,
                "created_at": item.created_at.isoformat(),
                "case_id": item.assessment["case_id"],
                "decision": item.assessment["decision"],
                "strength": item.assessment["strength"],
                "target_levels": item.assessment["target_levels"],
                "key_name": item.key_name,
            }
            for item in stored
        ]
    )
