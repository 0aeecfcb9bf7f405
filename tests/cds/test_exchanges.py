"""The CDS Hooks exchanges over HTTP: discovery, order hooks, prefetch and its fetching, errors and
feedback. A fake FHIR server (an httpx MockTransport over an example Bundle) stands in for the EHR's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final
from urllib.parse import parse_qs

import httpx
import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.cds.cds_rules import discovery_problems, operation_outcome_problems, response_problems
from tests.cds.conftest import (
    BASE_URL,
    ORDER_SELECT,
    ORDER_SIGN,
    PATIENT_ID,
    PATIENT_VIEW,
    PREFETCH_KEY_OF,
    Signer,
    augmentation_order,
    example_bundle,
    hook_request,
    prefetch_of,
    settings_for,
)
from vertaid.cds import PREFETCH
from vertaid.store import Store
from vertaid.web import create_app

FHIR_SERVER: Final = "https://fhir.example.org/r4"
ACCESS_TOKEN: Final = "fhir-access-token-1"
PAGE_SIZE: Final = 3


def post(client: TestClient, signer: Signer, path: str, body: Any) -> httpx2.Response:
    """POST ``body`` to ``path`` with a fresh token for it."""
    return client.post(path, json=body, headers=signer.authorization(path))


class FakeFhirServer:
    """A FHIR server holding one example Bundle's resources: reads the Patient, searches by type (a
    page of three entries at a time, with next links), and wants the access token on every request."""

    def __init__(self, bundle: dict[str, Any]) -> None:
        self.resources = [entry["resource"] for entry in bundle["entry"]]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
            return httpx.Response(401)
        path = request.url.path.removeprefix("/r4/")
        if path == f"Patient/{PATIENT_ID}":
            patient = next(r for r in self.resources if r["resourceType"] == "Patient")
            return httpx.Response(200, json=patient)
        query = parse_qs(request.url.query.decode())
        if query.get("patient") != [PATIENT_ID]:
            return httpx.Response(400)
        matches = [r for r in self.resources if r["resourceType"] == path]
        offset = int(query.get("_offset", ["0"])[0])
        page: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(matches)}
        if matches[offset : offset + PAGE_SIZE]:
            page["entry"] = [{"resource": r} for r in matches[offset : offset + PAGE_SIZE]]
        if offset + PAGE_SIZE < len(matches):
            page["link"] = [
                {
                    "relation": "next",
                    "url": f"{FHIR_SERVER}/{path}?patient={PATIENT_ID}&_offset={offset + PAGE_SIZE}",
                }
            ]
        return httpx.Response(200, json=page)


@pytest.fixture
def fhir_server() -> FakeFhirServer:
    """The fake FHIR server over the kyphoplasty example."""
    return FakeFhirServer(example_bundle("02-collapse-over-30"))


@pytest.fixture
def fetching_client(store: Store, signer: Signer, fhir_server: FakeFhirServer) -> Iterator[TestClient]:
    """A client of an application that reaches FHIR servers through the fake."""
    app: FastAPI = create_app(store, cds=settings_for(signer, transport=httpx.MockTransport(fhir_server)))
    with TestClient(app, base_url=BASE_URL) as client:
        yield client


def fhir_access() -> dict[str, Any]:
    """fhirServer and fhirAuthorization as a CDS client sends them."""
    return {
        "fhirServer": FHIR_SERVER,
        "fhirAuthorization": {
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "vertaid",
            "patient": PATIENT_ID,
        },
    }


# -- discovery ------------------------------------------------------------------------------------


def test_discovery_lists_the_three_hooks_with_their_prefetch(client: TestClient, signer: Signer) -> None:
    """GET /cds-services: one service per hook, valid by the spec, each with the prefetch templates."""
    response = client.get("/cds-services", headers=signer.authorization("/cds-services"))

    document = response.json()
    assert (200, []) == (response.status_code, discovery_problems(document))
    assert {("patient-view", PATIENT_VIEW), ("order-select", ORDER_SELECT), ("order-sign", ORDER_SIGN)} == {
        (service["hook"], service["id"]) for service in document["services"]
    }
    assert all(service["prefetch"] == PREFETCH for service in document["services"])
    assert "Patient/{{context.patientId}}" == PREFETCH["patient"]


def test_every_prefetch_template_is_a_read_or_search_for_the_context_patient() -> None:
    """Each template reads the Patient or searches one resource type for the context's patient."""
    for key, template in PREFETCH.items():
        kind, _, query = template.partition("?")
        assert "{{context.patientId}}" in template, key
        assert kind == "Patient/{{context.patientId}}" or "patient={{context.patientId}}" in query, key


# -- order hooks ----------------------------------------------------------------------------------


def test_order_sign_with_the_favoured_procedure_agrees(client: TestClient, signer: Signer) -> None:
    """order-sign of a kyphoplasty order where kyphoplasty is favoured: an info card first."""
    body = hook_request(
        "order-sign", prefetch_of(example_bundle("02-collapse-over-30")), [augmentation_order("22514")]
    )

    response = post(client, signer, f"/cds-services/{ORDER_SIGN}", body)

    assert [] == response_problems(response.json())
    assert "info" == response.json()["cards"][0]["indicator"]


def test_order_select_of_the_other_procedure_suggests_switching(client: TestClient, signer: Signer) -> None:
    """order-select of vertebroplasty where kyphoplasty is favoured: a warning with a switch."""
    body = hook_request(
        "order-select", prefetch_of(example_bundle("02-collapse-over-30")), [augmentation_order("22511")]
    )

    response = post(client, signer, f"/cds-services/{ORDER_SELECT}", body)

    card = response.json()["cards"][0]
    assert ("warning", "update") == (card["indicator"], card["suggestions"][0]["actions"][0]["type"])


def test_an_order_hook_without_an_augmentation_order_needs_no_data(
    client: TestClient, signer: Signer
) -> None:
    """Orders vertaid does not comment on get no cards, even without prefetch (nothing is needed)."""
    body = hook_request("order-sign", None, [augmentation_order("72148")])

    response = post(client, signer, f"/cds-services/{ORDER_SIGN}", body)

    assert (200, {"cards": []}) == (response.status_code, response.json())


def test_patient_view_for_a_patient_without_a_vertebral_fracture_gives_no_cards(
    client: TestClient, signer: Signer
) -> None:
    """A patient whose record has no vertebral fracture Condition gets no vertaid card at all."""
    prefetch = prefetch_of(example_bundle("02-collapse-over-30"))
    prefetch["conditions"] = {"resourceType": "Bundle", "type": "searchset", "total": 0}

    response = post(client, signer, f"/cds-services/{PATIENT_VIEW}", hook_request("patient-view", prefetch))

    assert (200, {"cards": []}) == (response.status_code, response.json())


def test_an_unreadable_record_gives_a_card_saying_what_needs_attention(
    client: TestClient, signer: Signer
) -> None:
    """A pain score out of range: the record cannot be assessed, and the card names the resource."""
    prefetch = prefetch_of(example_bundle("02-collapse-over-30"))
    for entry in prefetch["observations"]["entry"]:
        if "valueInteger" in entry["resource"]:
            entry["resource"]["valueInteger"] = 42

    response = post(client, signer, f"/cds-services/{PATIENT_VIEW}", hook_request("patient-view", prefetch))

    [card] = response.json()["cards"]
    assert [] == response_problems(response.json())
    assert "Observation/" in card["detail"] and "links" not in card


# -- prefetch -------------------------------------------------------------------------------------


def test_missing_prefetch_without_a_fhir_server_is_412_with_an_operation_outcome(
    client: TestClient, signer: Signer
) -> None:
    """No prefetch and no fhirServer: 412, and an OperationOutcome naming every missing key."""
    response = post(client, signer, f"/cds-services/{PATIENT_VIEW}", hook_request("patient-view", None))

    outcome = response.json()
    assert (412, []) == (response.status_code, operation_outcome_problems(outcome))
    assert {f"prefetch.{key}" for key in PREFETCH} == {issue["expression"][0] for issue in outcome["issue"]}


def test_one_missing_prefetch_key_is_412_naming_it(client: TestClient, signer: Signer) -> None:
    """A prefetch without its observations (and no fhirServer): 412 naming that key alone."""
    prefetch = prefetch_of(example_bundle("02-collapse-over-30"))
    del prefetch["observations"]

    response = post(client, signer, f"/cds-services/{PATIENT_VIEW}", hook_request("patient-view", prefetch))

    assert (412, [["prefetch.observations"]]) == (
        response.status_code,
        [issue["expression"] for issue in response.json()["issue"]],
    )


def test_missing_prefetch_is_fetched_from_the_fhir_server_with_its_token(
    fetching_client: TestClient, signer: Signer, fhir_server: FakeFhirServer
) -> None:
    """No prefetch, but fhirServer and fhirAuthorization: every key is fetched (following next links,
    with the access token) and the card is the one the prefetch would have given."""
    body = hook_request("patient-view", None, **fhir_access())

    fetched = post(fetching_client, signer, f"/cds-services/{PATIENT_VIEW}", body)
    prefetched = post(
        fetching_client,
        signer,
        f"/cds-services/{PATIENT_VIEW}",
        hook_request("patient-view", prefetch_of(example_bundle("02-collapse-over-30"))),
    )

    assert 200 == fetched.status_code, fetched.text
    assert fetched.json()["cards"][0]["summary"] == prefetched.json()["cards"][0]["summary"]
    assert any("_offset=3" in str(request.url) for request in fhir_server.requests), "next links followed"
    assert {request.url.path.split("/")[2] for request in fhir_server.requests} >= set(PREFETCH_KEY_OF)


def test_only_the_missing_keys_are_fetched(
    fetching_client: TestClient, signer: Signer, fhir_server: FakeFhirServer
) -> None:
    """A prefetch lacking only its conditions: only the Condition search goes to the FHIR server."""
    prefetch = prefetch_of(example_bundle("02-collapse-over-30"))
    del prefetch["conditions"]

    response = post(
        fetching_client,
        signer,
        f"/cds-services/{PATIENT_VIEW}",
        hook_request("patient-view", prefetch, **fhir_access()),
    )

    assert 200 == response.status_code
    assert {"Condition"} == {request.url.path.split("/")[2] for request in fhir_server.requests}


def test_a_fhir_server_refusing_the_token_is_412(fetching_client: TestClient, signer: Signer) -> None:
    """The FHIR server answers 401 to the access token: 412 naming the key, never the token."""
    access = fhir_access()
    access["fhirAuthorization"]["access_token"] = "revoked"

    response = post(
        fetching_client, signer, f"/cds-services/{PATIENT_VIEW}", hook_request("patient-view", None, **access)
    )

    assert 412 == response.status_code
    assert "revoked" not in response.text and "401" in response.text


def test_a_fhir_server_over_plain_http_elsewhere_is_not_called(
    fetching_client: TestClient, signer: Signer, fhir_server: FakeFhirServer
) -> None:
    """Patient data travel over TLS: an http:// FHIR server (not this machine) is refused with 412."""
    access = {**fhir_access(), "fhirServer": "http://fhir.example.org/r4"}

    response = post(
        fetching_client, signer, f"/cds-services/{PATIENT_VIEW}", hook_request("patient-view", None, **access)
    )

    assert (412, []) == (response.status_code, fhir_server.requests)


def test_a_paged_prefetch_without_a_fhir_server_is_412(client: TestClient, signer: Signer) -> None:
    """A prefetch search with a next link cannot be completed without the FHIR server: 412."""
    prefetch = prefetch_of(example_bundle("02-collapse-over-30"))
    prefetch["observations"]["link"] = [{"relation": "next", "url": f"{FHIR_SERVER}/Observation?page=2"}]

    response = post(client, signer, f"/cds-services/{PATIENT_VIEW}", hook_request("patient-view", prefetch))

    assert 412 == response.status_code


def test_a_prefetch_of_another_patient_is_refused(client: TestClient, signer: Signer) -> None:
    """The prefetch Patient must be the context's patient: another one is 400."""
    prefetch = prefetch_of(example_bundle("02-collapse-over-30"))
    prefetch["patient"] = {**prefetch["patient"], "id": "someone-else"}

    response = post(client, signer, f"/cds-services/{PATIENT_VIEW}", hook_request("patient-view", prefetch))

    assert (400, []) == (response.status_code, operation_outcome_problems(response.json()))


# -- malformed requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"hook": "order-sign"}, "hook"),
        ({"hookInstance": None}, "hookInstance"),
        ({"context": None}, "context"),
        ({"context": {"patientId": "a/b"}}, "context.patientId"),
        ({"fhirAuthorization": {"access_token": "x"}}, "fhirServer"),
        ({"unknownMember": 1}, "unknownMember"),
    ],
)
def test_a_malformed_request_is_400_with_an_operation_outcome(
    client: TestClient, signer: Signer, change: dict[str, Any], where: str
) -> None:
    """A request breaking the spec's rules: 400 with an OperationOutcome naming the member."""
    body = {**hook_request("patient-view", prefetch_of(example_bundle("02-collapse-over-30"))), **change}
    body = {key: value for key, value in body.items() if value is not None}

    response = post(client, signer, f"/cds-services/{PATIENT_VIEW}", body)

    assert (400, []) == (response.status_code, operation_outcome_problems(response.json()))
    assert where in [
        expression for issue in response.json()["issue"] for expression in issue.get("expression", [])
    ]


def test_a_body_that_is_not_json_is_400(client: TestClient, signer: Signer) -> None:
    """Not JSON: 400 with an OperationOutcome, no traceback."""
    path = f"/cds-services/{PATIENT_VIEW}"
    response = client.post(path, content=b"{not json", headers=signer.authorization(path))

    assert (400, []) == (response.status_code, operation_outcome_problems(response.json()))


def test_an_unknown_service_is_404(client: TestClient, signer: Signer) -> None:
    """A service id vertaid does not offer: 404 with an OperationOutcome."""
    response = post(client, signer, "/cds-services/no-such-service", {})

    assert (404, []) == (response.status_code, operation_outcome_problems(response.json()))


# -- feedback -------------------------------------------------------------------------------------


def test_feedback_on_a_card_is_stored(client: TestClient, signer: Signer, store: Store) -> None:
    """A card's uuid and an accepted suggestion posted to the feedback endpoint are stored with the
    issuer; the endpoint answers 200 with no body."""
    body = hook_request(
        "order-sign", prefetch_of(example_bundle("02-collapse-over-30")), [augmentation_order("22511")]
    )
    card = post(client, signer, f"/cds-services/{ORDER_SIGN}", body).json()["cards"][0]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2025-06-02T09:05:00Z",
            }
        ]
    }

    response = post(client, signer, f"/cds-services/{ORDER_SIGN}/feedback", feedback)

    assert (200, b"") == (response.status_code, response.content)
    [stored] = store.cds_feedback_for_card(card["uuid"])
    assert ("accepted", [card["suggestions"][0]["uuid"]]) == (
        stored.outcome,
        json.loads(stored.accepted_suggestions_json),
    )


def test_invalid_feedback_is_400_naming_the_member(client: TestClient, signer: Signer) -> None:
    """Feedback with an unknown outcome: 400, the OperationOutcome names feedback[0].outcome."""
    feedback = {"feedback": [{"card": "c-1", "outcome": "liked", "outcomeTimestamp": "2025-06-02T09:05:00Z"}]}

    response = post(client, signer, f"/cds-services/{ORDER_SIGN}/feedback", feedback)

    assert 400 == response.status_code
    assert ["feedback[0].outcome"] == [issue["expression"][0] for issue in response.json()["issue"]]


# -- serving ------------------------------------------------------------------------------------


def test_warm_up_loads_the_fhir_models_and_freezes_them() -> None:
    """vertaid.cds.warm_up (run by vertaid serve) leaves the FHIR models loaded and the objects made so
    far out of the garbage collector's passes; importing vertaid.cds alone does neither."""
    import subprocess
    import sys

    probe = (
        "import gc, sys, vertaid.cds as cds; before = ('fhir.resources.R4B.observation' in sys.modules, "
        "gc.get_freeze_count()); cds.warm_up(); "
        "print(before, 'fhir.resources.R4B.observation' in sys.modules, gc.get_freeze_count() > 10000)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)

    assert "(False, 0) True True" == result.stdout.strip(), result.stderr
