"""A CDS Hooks sandbox-style exchange end to end over real HTTP: the application served by uvicorn on a
free loopback port, a client that signs its calls as the sandbox does (ES384, kid, typ and a jku that
the service must not follow), discovery, patient-view, order-select, order-sign and feedback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from fastapi import FastAPI

from tests.cds.cds_rules import discovery_problems, response_problems
from tests.cds.conftest import (
    Signer,
    augmentation_order,
    draft_orders,
    example_bundle,
    expected_decision,
    prefetch_of,
    settings_for,
)
from tests.web.conftest import live_server  # noqa: F401 (the web suite's live server, as a fixture)
from vertaid.store import open_store
from vertaid.web import create_app

EXAMPLE: Final = "02-collapse-over-30"
SANDBOX_JKU: Final = "https://sandbox.cds-hooks.org/.well-known/jwks.json"


@pytest.fixture(scope="module")
def app(signer: Signer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The application over a store of its own, its address taken from each request (as `vertaid
    serve` does without VERTAID_CDS_BASE_URL), for the web suite's live server to serve."""
    store = open_store(f"sqlite:///{Path(tmp_path_factory.mktemp('cds-live')) / 'vertaid.db'}")
    try:
        yield create_app(store, cds=settings_for(signer, base_url=None))
    finally:
        store.dispose()


@pytest.fixture(scope="module")
def served(live_server: str) -> str:  # noqa: F811 (the imported fixture, requested by name)
    """vertaid served by uvicorn on a free loopback port; its base URL."""
    return live_server


def _headers(signer: Signer, url: str) -> dict[str, str]:
    """The sandbox's headers: an ES384 JWT for this URL naming its jku, and JSON."""
    token = signer.token(url, headers={"jku": SANDBOX_JKU})
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }


def _hook(hook: str, orders: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": "patient"}
    if orders is not None:
        context["draftOrders"] = draft_orders(*orders)
        if hook == "order-select":
            context["selections"] = [f"ServiceRequest/{order['id']}" for order in orders]
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": "https://launch.smarthealthit.org/v/r4/fhir",
        "context": context,
        "prefetch": prefetch_of(example_bundle(EXAMPLE)),
    }


def test_a_sandbox_style_exchange_over_http(served: str, signer: Signer) -> None:
    """Discovery, then each hook with the prefetch the sandbox would send, then feedback on a card:
    every answer valid by the spec, the patient-view card linking to a decision aid that loads, the
    vertebroplasty order met with a switch to kyphoplasty, and the feedback accepted."""
    with httpx.Client(timeout=30) as client:
        discovery = client.get(f"{served}/cds-services", headers=_headers(signer, f"{served}/cds-services"))
        assert (200, []) == (discovery.status_code, discovery_problems(discovery.json()))
        services = {service["hook"]: service["id"] for service in discovery.json()["services"]}

        def call(hook: str, orders: list[dict[str, Any]] | None = None) -> dict[str, Any]:
            url = f"{served}/cds-services/{services[hook]}"
            response = client.post(url, json=_hook(hook, orders), headers=_headers(signer, url))
            assert 200 == response.status_code, response.text
            assert "*" == response.headers["access-control-allow-origin"]
            document: dict[str, Any] = response.json()
            assert [] == response_problems(document)
            return document

        [recommendation] = call("patient-view")["cards"]
        aid = client.get(recommendation["links"][0]["url"])
        assert (200, "text/html") == (aid.status_code, aid.headers["content-type"].split(";")[0])
        assert expected_decision(EXAMPLE) == "kyphoplasty"
        assert "kyphoplasty is favoured" in recommendation["summary"]

        selected = call("order-select", [augmentation_order("22511")])["cards"]
        signed = call("order-sign", [augmentation_order("22511")])["cards"]
        assert ["warning", "warning"] == [selected[0]["indicator"], signed[0]["indicator"]]
        switch = signed[0]["suggestions"][0]

        url = f"{served}/cds-services/{services['order-sign']}/feedback"
        feedback = {
            "feedback": [
                {
                    "card": signed[0]["uuid"],
                    "outcome": "accepted",
                    "acceptedSuggestions": [{"id": switch["uuid"]}],
                    "outcomeTimestamp": "2025-06-02T09:05:00Z",
                }
            ]
        }
        answer = client.post(url, json=feedback, headers=_headers(signer, url))
        assert 200 == answer.status_code

        preflight = client.options(
            f"{served}/cds-services",
            headers={"Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "GET"},
        )
        assert "Authorization" in preflight.headers["access-control-allow-headers"]
