"""The three services over HTTP: patient-view, order-select and order-sign on the example Bundles."""

from __future__ import annotations

from typing import Any, Final

import pytest
from fastapi.testclient import TestClient

from tests.cds.cds_rules import response_problems
from tests.cds.conftest import (
    BASE_URL,
    PATIENT_VIEW,
    Signer,
    example_bundle,
    expected_decision,
    hook_request,
    prefetch_of,
)

EXAMPLE_NAMES: Final = [
    "01-stable-pain-only",
    "02-collapse-over-30",
    "04-collapse-but-uninsured",
    "05-too-early",
    "08-healed-old-fracture",
    "09-no-mri-yet",
    "11-active-infection",
    "12-neuro-deficit",
    "16-junction-multilevel",
]


def call(client: TestClient, signer: Signer, service: str, body: dict[str, Any]) -> Any:
    """POST a request to a service with a fresh token; the response."""
    path = f"/cds-services/{service}"
    return client.post(path, json=body, headers=signer.authorization(path))


def stored_decision(client: TestClient, card: dict[str, Any]) -> str:
    """The decision of the stored assessment a card links to (its decision-aid link)."""
    url = next(link["url"] for link in card["links"] if "view=patient" in link["url"])
    assessment_id = url.removeprefix(BASE_URL + "/assessments/").split("?")[0]
    decision: str = client.get(f"/api/v1/assessments/{assessment_id}").json()["decision"]
    return decision


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_patient_view_gives_one_valid_card_for_the_vignettes_decision(
    client: TestClient, signer: Signer, name: str
) -> None:
    """patient-view on an example Bundle's prefetch: one card, valid by the spec's rules, linking to the
    decision aid of an assessment stored with the vignette's own decision."""
    response = call(
        client, signer, PATIENT_VIEW, hook_request("patient-view", prefetch_of(example_bundle(name)))
    )

    assert response.status_code == 200, response.text
    document = response.json()
    assert [] == response_problems(document)
    [card] = document["cards"]
    assert expected_decision(name) == stored_decision(client, card)
    assert any(link["url"].endswith("?view=patient") for link in card["links"])
