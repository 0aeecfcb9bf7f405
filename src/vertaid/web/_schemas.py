"""The API's documents, as pydantic models for the OpenAPI description.

The answers themselves are written from the stored assessment as it is (the engine's document is not
re-validated on the way out); these models say what a client can rely on. The case's schema is the case
model's own JSON Schema (``vertaid schema case``), not a copy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AssessmentSummary",
    "CaseProblem",
    "CaseProblems",
    "Health",
    "Problem",
    "StoredAssessmentDocument",
]


class Problem(BaseModel):
    """A problem document (RFC 9457): what went wrong with a request."""

    type: str = Field("about:blank", examples=["about:blank"])
    title: str = Field(examples=["Unauthorized"])
    status: int = Field(examples=[401])
    detail: str | None = Field(None, examples=["Writes need an API key: Authorization: Bearer <key>."])


class CaseProblem(BaseModel):
    """One problem with a case: its JSON path and what is wrong, as ``vertaid assess`` prints them."""

    path: str = Field(examples=["fractures[0].level"])
    message: str = Field(examples=["'L9' is not a vertebral level"])


class CaseProblems(Problem):
    """The body is not a valid ``vertaid.case/1``: every problem, each naming its JSON path."""

    problems: list[CaseProblem]


class StoredAssessmentDocument(BaseModel):
    """A stored assessment: the ``vertaid.assessment/1`` document of the case, with the stored ``id``
    and the time it was recorded (``created_at``, UTC)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(description="The stored assessment's id: GET /api/v1/assessments/{id}")
    created_at: datetime
    schema_: str = Field(alias="schema", examples=["vertaid.assessment/1"])
    case_id: str | None
    decision: str = Field(
        examples=["kyphoplasty"],
        description="kyphoplasty | vertebroplasty | either | conservative_care | further_workup | "
        "surgical_consultation | not_a_candidate",
    )
    strength: str | None = Field(description="strong | moderate | weak for augmentation decisions")
    score: int | None = Field(description="The kyphoplasty-versus-vertebroplasty factor score")
    summary: str
    target_levels: list[str]
    findings: list[dict[str, Any]]
    missing: list[dict[str, Any]]
    conflicts: list[dict[str, Any]]
    fractures: list[dict[str, Any]]
    ao_of_score: int | None
    coverage: dict[str, Any]
    outcomes: dict[str, Any]
    aftercare: list[str]
    knowledge: dict[str, Any] = Field(description="The knowledge pack's id, version and sha256 digest")


class AssessmentSummary(BaseModel):
    """A stored assessment in a list: enough to find it."""

    id: str
    created_at: datetime
    case_id: str | None
    decision: str
    strength: str | None
    target_levels: list[str]
    key_name: str | None = Field(description="The API key it was sent with; null for the web form")


class Health(BaseModel):
    """The service and its store answer."""

    status: str = Field(examples=["ok"])
