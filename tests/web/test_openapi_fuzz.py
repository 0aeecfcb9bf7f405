"""The REST API fuzzed from its own OpenAPI description (schemathesis): never a 5xx, and every answer
matches what the description says of it (status, content type, headers, body schema).

Each operation is driven with requests the description allows (positive) and, where it has something to
break, requests it forbids (negative), a bounded number of each. Writes carry a key this store issued, so
positive cases reach the engine and the store. The CDS Hooks endpoints are called without a JWT here
(every call is a bare 401, as described); their bodies are fuzzed with trusted tokens in
tests/cds/test_hostile_requests.py.
"""

from __future__ import annotations

from typing import Any, Final

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode

OPERATIONS: Final = {
    "GET /cds-services": (5, 0),
    "POST /cds-services/{service_id}": (10, 0),
    "POST /cds-services/{service_id}/feedback": (10, 0),
    "POST /api/v1/assessments": (40, 40),
    "GET /api/v1/assessments": (15, 15),
    "GET /api/v1/assessments/{assessment_id}": (15, 0),
    "GET /healthz": (3, 0),
}
"""Every operation of the description, with how many requests it allows (positive) and forbids
(negative) it is sent. Operations that take nothing but a string in their path get no negative ones:
no request the description forbids can be made of them."""

CASES: Final = [
    (label, mode)
    for label, counts in OPERATIONS.items()
    for mode, count in zip((GenerationMode.POSITIVE, GenerationMode.NEGATIVE), counts, strict=True)
    if count
]


def _distinct_levels(case: Case[Any]) -> Case[Any]:
    """A case body whose fractures repeat a level keeps the first of each: the case model refuses a
    level listed twice, which JSON Schema cannot say (``uniqueItems`` compares whole items)."""
    body: Any = case.body
    if isinstance(body, dict) and isinstance(body.get("fractures"), list):
        seen: set[object] = set()
        kept = []
        for fracture in body["fractures"]:
            level = fracture.get("level") if isinstance(fracture, dict) else None
            if level is None or level not in seen:
                seen.add(level)
                kept.append(fracture)
        body["fractures"] = kept
    return case


@pytest.fixture(scope="module")
def api_schema(app: FastAPI) -> Any:
    """The application's OpenAPI description, as schemathesis reads it from /openapi.json."""
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_every_operation_of_the_description_is_fuzzed(api_schema: Any) -> None:
    """The list fuzzed below is the description's own: a new endpoint cannot be left out unnoticed."""
    labels = {result.ok().label for result in api_schema.get_all_operations()}

    assert labels == set(OPERATIONS)


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{label} {mode}" for label, mode in CASES])
def test_no_request_gets_a_5xx_or_an_answer_the_description_does_not_give(
    api_schema: Any, api_key: str, label: str, mode: GenerationMode
) -> None:
    """Requests the description allows, and requests it forbids, never get a 5xx; each answer's status,
    content type, headers and body are as described; allowed ones are accepted, forbidden ones refused."""
    operation = api_schema.find_operation_by_label(label)

    @given(case=operation.as_strategy(generation_mode=mode).map(_distinct_levels))
    @settings(
        max_examples=OPERATIONS[label][mode is GenerationMode.NEGATIVE],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Case[Any]) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {api_key}"})

    fuzz()
