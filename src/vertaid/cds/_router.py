"""The CDS Hooks endpoints under ``/cds-services``: discovery, the three services, and feedback.

Each call is authenticated first (a bare 401 otherwise), then read: a body that is not a CDS Hooks
request gets 400 with a FHIR OperationOutcome, as CDS Hooks recommends for every answer that is not 2xx.
The FHIR data are the client's prefetch, completed from its FHIR server when it gave one with a token;
without them the answer is 412. The case read from the data is assessed and stored (the cards link to
the stored assessment's pages), and the cards are made by :mod:`vertaid.services.cds`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from vertaid.cds._auth import Caller, KeySets, Unauthorized, verify_token
from vertaid.cds._config import CdsSettings
from vertaid.cds._prefetch import FHIR_ID, PREFETCH, FetchFailed, fetch, has_fracture_condition, unsatisfied
from vertaid.domain._shapes import Problem, describe
from vertaid.domain.case import InvalidCase
from vertaid.domain.pack import CdsService, KnowledgePack
from vertaid.services._json_text import UnreadableInput, parse_json_text
from vertaid.services.cds import (
    AugmentationOrder,
    CardContext,
    InvalidOrders,
    augmentation_orders,
    order_cards,
    recommendation_card,
    unreadable_card,
)
from vertaid.services.cds_records import InvalidFeedback, claim_token, record_feedback
from vertaid.services.ports import StoreUnavailable
from vertaid.services.records import prepare_assessment
from vertaid.store import Store
from vertaid.web._deps import Pack, StoreDep, Write, Writer
from vertaid.web._security import BodyTooLarge
from vertaid.web._threads import refusable

__all__ = ["PREFIX", "CdsRuntime", "json_response", "operation_outcome", "router"]

PREFIX: Final = "/cds-services"
KEY_NAME_PREFIX: Final = "cds:"
"""Assessments made for a CDS Hooks call are recorded under ``cds:<issuer>`` in the audit trail."""

_ORDER_HOOKS: Final = ("order-select", "order-sign")
_REQUEST_KEYS: Final = frozenset(
    {"hook", "hookInstance", "fhirServer", "fhirAuthorization", "context", "prefetch", "extension"}
)
_AUTHORIZATION_KEYS: Final = ("access_token", "token_type", "expires_in", "scope", "subject")

router = APIRouter(prefix=PREFIX, tags=["cds-hooks"])


class _Issue(BaseModel):
    severity: str = Field(examples=["error"])
    code: str = Field(examples=["invalid"])
    diagnostics: str
    expression: list[str] | None = None


class OperationOutcome(BaseModel):
    """A FHIR OperationOutcome: why a CDS Hooks call was not answered with cards."""

    resourceType: str = Field(examples=["OperationOutcome"])  # FHIR's name for the member
    issue: list[_Issue]


def _outcome(description: str) -> dict[str, Any]:
    return {"description": description, "model": OperationOutcome}


_UNAUTHORIZED: Final[dict[int | str, dict[str, Any]]] = {
    401: {"description": "No JWT from a trusted issuer good for this endpoint, or one seen before: no body."}
}
_CALL_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    **_UNAUTHORIZED,
    400: _outcome("The body is not a CDS Hooks request this service takes."),
    404: _outcome("No CDS Hooks service has this id."),
    413: {"description": "The body is larger than 1 MiB."},
    503: _outcome("The store does not answer; nothing was stored."),
}


@dataclass
class CdsRuntime:
    """What the endpoints share: the settings, the issuers' keys, the services by id."""

    settings: CdsSettings
    services: Mapping[str, CdsService]
    key_sets: KeySets = field(init=False)

    def __post_init__(self) -> None:
        self.key_sets = KeySets(self.settings)

    def base_url(self, request: Request) -> str:
        """The address clients call, before ``/cds-services``."""
        if self.settings.base_url is not None:
            return self.settings.base_url
        return str(request.base_url).rstrip("/")

    async def caller(self, request: Request, endpoint: str, store: Store, writer: Writer) -> Caller:
        """The trusted client making this call to ``endpoint`` (a path under the base URL).

        Raises:
            Unauthorized: the token is missing, not good, or seen before.
        """
        caller = await verify_token(
            request.headers.get("authorization"),
            self.base_url(request) + endpoint,
            self.settings,
            self.key_sets,
        )
        fresh = await writer.run(
            claim_token, store, caller.issuer, caller.token_id, caller.expires_at, datetime.now(UTC)
        )
        if not fresh:
            raise Unauthorized("jti seen before (a replay)", caller.issuer)
        return caller


def _runtime(request: Request) -> CdsRuntime:
    runtime: CdsRuntime = request.app.state.cds
    return runtime


def json_response(document: object, status: int = 200) -> Response:
    """A JSON answer (CDS Hooks exchanges JSON)."""
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status_code=status, media_type="application/json")


def operation_outcome(status: int, code: str, issues: Sequence[tuple[str | None, str]]) -> Response:
    """A FHIR OperationOutcome answer: one error issue per ``(where, what)`` (``where`` may be None)."""
    outcome: list[dict[str, Any]] = []
    for where, what in issues:
        issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": what}
        if where:
            issue["expression"] = [where]
        outcome.append(issue)
    return json_response({"resourceType": "OperationOutcome", "issue": outcome}, status)


async def _document(request: Request) -> object:
    try:
        return parse_json_text(await request.body())
    except BodyTooLarge:
        raise
    except UnreadableInput as error:
        raise _BadRequest([(None, f"The body {error}.")]) from None


class _BadRequest(Exception):
    def __init__(
        self, issues: list[tuple[str | None, str]], status: int = 400, code: str = "invalid"
    ) -> None:
        super().__init__(issues)
        self.issues = issues
        self.status = status
        self.code = code


# -- discovery ---------------------------------------------------------------------------------------


@router.get("", summary="CDS Hooks discovery: the services vertaid offers", responses=_UNAUTHORIZED)
async def discovery(request: Request, store: StoreDep, writer: Write) -> Response:
    """The services, each with its hook, title, description, id and prefetch templates (JWT required)."""
    runtime = _runtime(request)
    await runtime.caller(request, PREFIX, store, writer)
    return json_response(
        {
            "services": [
                {
                    "hook": service.hook,
                    "title": service.title,
                    "description": service.description,
                    "id": service.id,
                    "prefetch": PREFETCH,
                }
                for service in runtime.services.values()
            ]
        }
    )


# -- a service call ----------------------------------------------------------------------------------


def _checked_request(document: object, service: CdsService) -> dict[str, Any]:
    """The request's members, checked as CDS Hooks 2.0.1 and the hook ask; ``_BadRequest`` otherwise."""
    if not isinstance(document, dict):
        raise _BadRequest([(None, f"The body is {describe(document)}, not a CDS Hooks request object.")])
    issues: list[tuple[str | None, str]] = []
    for key in document:
        if key not in _REQUEST_KEYS:
            issues.append((key, f"{key} is not a member of a CDS Hooks request."))
    if document.get("hook") != service.hook:
        issues.append(("hook", f"This service answers the {service.hook} hook."))
    if not isinstance(document.get("hookInstance"), str) or not document["hookInstance"].strip():
        issues.append(("hookInstance", "hookInstance is required (a UUID)."))
    context = document.get("context")
    if not isinstance(context, dict):
        issues.append(("context", "context is required (an object)."))
    elif not isinstance(context.get("patientId"), str) or FHIR_ID.fullmatch(context["patientId"]) is None:
        issues.append(("context.patientId", "context.patientId is required (a FHIR resource id)."))
    elif service.hook in _ORDER_HOOKS and "draftOrders" not in context:
        issues.append(("context.draftOrders", f"context.draftOrders is required by {service.hook}."))
    elif service.hook == "order-select" and not isinstance(context.get("selections"), list):
        issues.append(("context.selections", "context.selections is required by order-select (a list)."))
    if "prefetch" in document and not isinstance(document["prefetch"], dict):
        issues.append(("prefetch", "prefetch must be an object of prefetch keys."))
    authorization = document.get("fhirAuthorization")
    if authorization is not None:
        if not isinstance(document.get("fhirServer"), str):
            issues.append(("fhirServer", "fhirServer is required with fhirAuthorization."))
        if not isinstance(authorization, dict) or any(
            key not in authorization for key in _AUTHORIZATION_KEYS
        ):
            issues.append(
                ("fhirAuthorization", "fhirAuthorization needs " + ", ".join(_AUTHORIZATION_KEYS) + ".")
            )
        elif (
            not isinstance(authorization["access_token"], str)
            or str(authorization["token_type"]).lower() != "bearer"
        ):
            issues.append(("fhirAuthorization", "fhirAuthorization needs a Bearer access_token."))
    if issues:
        raise _BadRequest(issues)
    return document


async def _fhir_data(document: Mapping[str, Any], patient_id: str, settings: CdsSettings) -> dict[str, Any]:
    """The prefetch keys' data: the client's, with what it did not send fetched from its FHIR server."""
    prefetch: Mapping[str, Any] = document.get("prefetch") or {}
    data = {key: prefetch[key] for key in PREFETCH if key in prefetch}
    missing = unsatisfied(prefetch)
    if not missing:
        return data
    server, authorization = document.get("fhirServer"), document.get("fhirAuthorization")
    if not isinstance(server, str) or not isinstance(authorization, dict):
        raise _BadRequest(
            [
                (
                    f"prefetch.{key}",
                    f"Prefetch {key} is missing, and no fhirServer with fhirAuthorization was given "
                    "to fetch it.",
                )
                for key in missing
            ],
            status=412,
            code="processing",
        )
    try:
        data.update(await fetch(missing, patient_id, server, authorization["access_token"], settings))
    except FetchFailed as error:
        raise _BadRequest(
            [(f"prefetch.{error.key}", f"Prefetch {error.key} could not be fetched: {error.reason}.")],
            status=412,
            code="processing",
        ) from None
    return data


def _check_patient(data: Mapping[str, Any], patient_id: str) -> None:
    patient = data.get("patient")
    if (
        isinstance(patient, dict)
        and patient.get("resourceType") == "Patient"
        and patient.get("id") != patient_id
    ):
        raise _BadRequest(
            [
                (
                    "prefetch.patient",
                    f"The prefetch patient is not Patient/{patient_id}, the patient of the context.",
                )
            ]
        )


def _context(
    runtime: CdsRuntime,
    request: Request,
    document: Mapping[str, Any],
    service: CdsService,
    stored_id: str | None,
) -> CardContext:
    base = runtime.base_url(request)
    return CardContext(
        hook_instance=document["hookInstance"],
        service_id=service.id,
        home_url=f"{base}/",
        decision_aid_url=None if stored_id is None else f"{base}/assessments/{stored_id}?view=patient",
        clinician_url=None if stored_id is None else f"{base}/assessments/{stored_id}?view=clinician",
    )


async def _cards(
    request: Request,
    document: Mapping[str, Any],
    service: CdsService,
    caller: Caller,
    pack: KnowledgePack,
    writer: Writer,
) -> list[dict[str, Any]]:
    from vertaid.fhir import InvalidBundle, case_from_fhir

    runtime = _runtime(request)
    context = document["context"]
    patient_id: str = context["patientId"]
    orders: list[AugmentationOrder] = []
    if service.hook in _ORDER_HOOKS:
        selections = context["selections"] if service.hook == "order-select" else None
        try:
            orders = augmentation_orders(context["draftOrders"], selections, pack.cds)
        except InvalidOrders as error:
            raise _BadRequest([(where, what) for where, what in error.problems]) from None
        if not orders:
            return []  # no vertebroplasty or kyphoplasty is being ordered: nothing to say
    data = await _fhir_data(document, patient_id, runtime.settings)
    _check_patient(data, patient_id)
    if not orders and not has_fracture_condition(data):
        return []  # patient-view for a patient with no vertebral fracture
    unstored = _context(runtime, request, document, service, None)
    # Refusals come back as values: raised across the thread pool, they would keep the prefetch in memory.
    read = await refusable(case_from_fhir, (InvalidBundle,), data, runtime.settings.reference_time())
    if isinstance(read, InvalidBundle):
        return [unreadable_card(read.problems, pack, unstored, orders)]
    prepared = await refusable(
        prepare_assessment, (InvalidCase,), read.case, key_name=KEY_NAME_PREFIX + caller.issuer, pack=pack
    )
    if isinstance(prepared, InvalidCase):
        return [unreadable_card(read.explain(prepared.problems), pack, unstored, orders)]
    stored = await writer.commit(prepared)  # with whatever other assessments wait; once committed
    card_context = _context(runtime, request, document, service, stored.id)
    if orders:
        return order_cards(stored.assessment, pack, orders, card_context)
    return [recommendation_card(stored.assessment, pack, card_context)]


@router.post(
    "/{service_id}",
    summary="Call a CDS Hooks service",
    responses={**_CALL_ERRORS, 412: _outcome("The FHIR data the service needs could not be had.")},
)
async def call_service(
    service_id: str, request: Request, store: StoreDep, pack: Pack, writer: Write
) -> Response:
    """Cards for the hook: ``{"cards": [...]}``; 412 when the FHIR data cannot be had (JWT required)."""
    runtime = _runtime(request)
    try:
        caller = await runtime.caller(request, f"{PREFIX}/{service_id}", store, writer)
        service = runtime.services.get(service_id)
        if service is None:
            raise _BadRequest([(None, "No CDS Hooks service has this id.")], status=404, code="not-found")
        document = _checked_request(await _document(request), service)
        cards = await _cards(request, document, service, caller, pack, writer)
    except _BadRequest as error:
        return operation_outcome(error.status, error.code, error.issues)
    except StoreUnavailable:
        return operation_outcome(503, "transient", [(None, "The store does not answer.")])
    return json_response({"cards": cards})


# -- feedback -------------------------------------------------------------------------------------


@router.post(
    "/{service_id}/feedback",
    summary="Feedback on a service's cards",
    response_class=Response,  # 200 with no body
    responses=_CALL_ERRORS,
)
async def feedback(service_id: str, request: Request, store: StoreDep, writer: Write) -> Response:
    """Store what users did with the cards (accepted a suggestion, overrode a card); 200 with no body."""
    runtime = _runtime(request)
    try:
        caller = await runtime.caller(request, f"{PREFIX}/{service_id}/feedback", store, writer)
        if service_id not in runtime.services:
            raise _BadRequest([(None, "No CDS Hooks service has this id.")], status=404, code="not-found")
        document = await _document(request)
        try:
            await writer.run(record_feedback, store, service_id, caller.issuer, document, datetime.now(UTC))
        except InvalidFeedback as error:
            raise _BadRequest(_issues(error.problems)) from None
    except _BadRequest as error:
        return operation_outcome(error.status, error.code, error.issues)
    except StoreUnavailable:
        return operation_outcome(503, "transient", [(None, "The store does not answer.")])
    return Response(status_code=200)


def _issues(problems: Sequence[Problem]) -> list[tuple[str | None, str]]:
    return [(where, f"{where}: {what}") for where, what in problems]
