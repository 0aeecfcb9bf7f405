"""The REST API, ``/api/v1`` (CONTRACT §5): assess and store a case, read a stored assessment back.

A case is read as the command line reads a case file (the same reasons for a body that is not a JSON
document) and checked by the case model (the same paths and messages for an invalid case). Writes need
an API key; the key's name is recorded with the assessment in the audit trail.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from vertaid.domain.case import CASE_SCHEMA_ID, CASE_SHAPE, InvalidCase
from vertaid.services._json_text import UnreadableInput, parse_json_text
from vertaid.services.records import StoredAssessment, get_assessment, recent_assessments, record_assessment
from vertaid.web._deps import ApiKeyName, Pack, StoreDep, Write
from vertaid.web._errors import PROBLEM_JSON, problem_response
from vertaid.web._schemas import AssessmentSummary, CaseProblems, Problem, StoredAssessmentDocument

__all__ = ["assessment_document", "router"]

router = APIRouter(prefix="/api/v1", tags=["assessments"])

_CASE_SCHEMA: Final = {"$id": CASE_SCHEMA_ID, **CASE_SHAPE.json_schema()}


def _problem(description: str, model: type[Problem] = Problem) -> dict[str, Any]:
    return {"description": description, "model": model, "content": {PROBLEM_JSON: {}}}


def assessment_document(stored: StoredAssessment) -> dict[str, Any]:
    """A stored assessment as the API gives it: the assessment with its ``id`` and ``created_at``."""
    return {"id": stored.id, "created_at": stored.created_at.isoformat(), **stored.assessment}


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
        422: _problem(
            "The body is not a valid vertaid.case/1: every problem by its JSON path.", CaseProblems
        ),
    },
)
async def create_assessment(
    request: Request, store: StoreDep, pack: Pack, writer: Write, key_name: ApiKeyName
) -> Response:
    """Assess the case in the body, store the assessment with its audit record and return it with its
    stored ``id``. Nothing is stored for a body that is not a valid case."""
    raw = await request.body()
    try:
        case = parse_json_text(raw)
    except UnreadableInput as error:
        return problem_response(400, f"The body {error}.")
    try:
        stored = await writer.run(record_assessment, store, case, key_name=key_name, pack=pack)
    except InvalidCase as error:
        return problem_response(422, "The body is not a valid vertaid.case/1.", problems=error.problems)
    location = f"{router.prefix}/assessments/{stored.id}"
    return _json(assessment_document(stored), 201, {"Location": location})


@router.get(
    "/assessments/{assessment_id}",
    summary="A stored assessment",
    response_model=None,
    responses={
        200: {"description": "The stored assessment.", "model": StoredAssessmentDocument},
        404: _problem("No assessment is stored under this id."),
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
