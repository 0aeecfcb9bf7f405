"""Hostile CDS Hooks requests from a trusted client (issue 7): a caller with a good token may still send
anything. Hook requests built from the example Bundles, with parts replaced by any JSON value, removed or
added to (hypothesis), and bodies that are not requests at all, get cards (200), an OperationOutcome (400,
404, 412) or 413: never a 5xx, never an answer that is not JSON but the 413's. The FHIR server a mangled
request might name is a fake that refuses everything, so nothing leaves the machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cds.conftest import (
    BASE_URL,
    EXAMPLES,
    ORDER_SIGN,
    PATIENT_VIEW,
    Signer,
    augmentation_order,
    example_bundle,
    hook_request,
    prefetch_of,
    settings_for,
)
from tests.test_fuzz import mutated
from tests.web.test_hostile_bodies import large_values_left_in_cycles
from tests.web.test_web_security import SECURITY_HEADERS
from vertaid.store import Store, open_store
from vertaid.web import create_app

SERVICES: Final = {PATIENT_VIEW: "patient-view", ORDER_SIGN: "order-sign"}
BUNDLES: Final = sorted(path.stem for path in EXAMPLES.glob("*.json"))


def _request(bundle: str, service: str) -> dict[str, Any]:
    orders = [augmentation_order("22513")] if SERVICES[service] != "patient-view" else None
    return hook_request(SERVICES[service], prefetch_of(example_bundle(bundle)), orders)


@pytest.fixture(scope="module")
def hostile_client(signer: Signer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The application trusting the test client, over a store of its own, whose way out to FHIR servers
    refuses every request."""

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    store: Store = open_store(f"sqlite:///{tmp_path_factory.mktemp('cds-hostile') / 'v.db'}")
    try:
        settings = settings_for(signer, transport=httpx.MockTransport(refuse))
        with TestClient(create_app(store, cds=settings), base_url=BASE_URL) as client:
            yield client
    finally:
        store.dispose()


def _call(client: TestClient, signer: Signer, service: str, content: bytes) -> Any:
    path = f"/cds-services/{service}"
    headers = signer.authorization(path) | {"Content-Type": "application/json"}
    return client.post(path, content=content, headers=headers)


def _assert_answered(response: Any) -> None:
    """Cards, or an OperationOutcome saying what was wrong: never a server error."""
    assert response.status_code in (200, 400, 404, 412), response.text[:500]
    document = response.json()
    if response.status_code == 200:
        assert isinstance(document["cards"], list)
    else:
        assert document["resourceType"] == "OperationOutcome"
        assert all(issue["diagnostics"] for issue in document["issue"])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(BUNDLES).flatmap(
        lambda bundle: st.sampled_from(list(SERVICES)).flatmap(
            lambda service: st.tuples(st.just(service), mutated(st.just(_request(bundle, service))))
        )
    )
)
def test_a_mangled_hook_request_gets_cards_or_an_operation_outcome(
    hostile_client: TestClient, signer: Signer, call: tuple[str, Any]
) -> None:
    """A hook request with its members, context, prefetch Bundles and resources changed at random by a
    trusted client is answered with cards or an OperationOutcome, never a 5xx."""
    service, body = call

    response = _call(hostile_client, signer, service, json.dumps(body).encode())

    _assert_answered(response)


NOT_REQUESTS: Final = {
    "not JSON": b"{",
    "a list": b"[]",
    "NaN": b'{"hook": NaN}',
    "nested 100 000 deep": b"[" * 100_000 + b"]" * 100_000,
    "a member named twice": b'{"hook": "patient-view", "hook": "order-sign"}',
    "a number of 5000 digits": b'{"hookInstance": ' + b"9" * 5000 + b"}",
}


@pytest.mark.parametrize("name", NOT_REQUESTS)
def test_a_body_that_is_not_a_request_is_400(hostile_client: TestClient, signer: Signer, name: str) -> None:
    """Bodies that are not a JSON object, or not JSON at all, get 400 with an OperationOutcome."""
    response = _call(hostile_client, signer, PATIENT_VIEW, NOT_REQUESTS[name])

    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_a_prefetch_bundle_of_thousands_of_resources_is_answered(
    hostile_client: TestClient, signer: Signer
) -> None:
    """A request near 1 MiB whose prefetch holds thousands of copies of one Observation (each its own
    id) is read and answered, not failed."""
    request = _request(BUNDLES[0], PATIENT_VIEW)
    searches = [
        value for value in request["prefetch"].values() if isinstance(value, dict) and "entry" in value
    ]
    entry = searches[0]["entry"][0]
    copies = []
    for number in range(3000):
        resource = json.loads(json.dumps(entry["resource"]))
        resource["id"] = f"copy-{number}"
        copies.append({"resource": resource})
    searches[0]["entry"] = copies
    body = json.dumps(request).encode()
    assert len(body) < 1024 * 1024

    response = _call(hostile_client, signer, PATIENT_VIEW, body)

    _assert_answered(response)


def test_a_large_prefetch_that_cannot_be_read_is_freed_with_its_request(
    hostile_client: TestClient, signer: Signer
) -> None:
    """A prefetch of thousands of resources that FHIR cannot read (the Patient's birth date is not a
    date) is answered with a card saying so, and leaves nothing of itself in reference cycles."""
    request = _request(BUNDLES[0], PATIENT_VIEW)
    request["prefetch"]["patient"]["birthDate"] = "not a date"
    searches = [
        value for value in request["prefetch"].values() if isinstance(value, dict) and "entry" in value
    ]
    entry = searches[0]["entry"][0]
    searches[0]["entry"] = [
        {"resource": {**entry["resource"], "id": f"copy-{number}"}} for number in range(3000)
    ]
    body = json.dumps(request).encode()

    def call() -> None:
        response = _call(hostile_client, signer, PATIENT_VIEW, body)
        assert response.status_code == 200
        assert len(response.json()["cards"]) == 1

    assert large_values_left_in_cycles(call) == []


def test_cds_answers_carry_the_security_headers(hostile_client: TestClient, signer: Signer) -> None:
    """Cards (200) and an OperationOutcome (400) carry the same security headers as every other answer,
    with the CORS header CDS Hooks clients in a browser need."""
    cards = _call(
        hostile_client, signer, PATIENT_VIEW, json.dumps(_request(BUNDLES[1], PATIENT_VIEW)).encode()
    )
    refused = _call(hostile_client, signer, PATIENT_VIEW, b"[]")

    assert (cards.status_code, refused.status_code) == (200, 400)
    for response in (cards, refused):
        for header, value in SECURITY_HEADERS.items():
            assert response.headers.get(header) == value, header
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["cache-control"] == "no-store"
