"""Fixtures of the CDS Hooks suite: a trusted client's keys and tokens, the application over a store of
its own, and CDS Hooks requests made from the example Bundles of examples/fhir/.

The client signs with an EC P-384 key (``ec-1``, ES384) or an RSA key (``rsa-1``, RS384); both public
keys are in a JWKS file that ``VERTAID_CDS_ISSUERS``-style settings name for the issuer ``ISSUER``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vertaid.cds import PREFETCH, CdsSettings
from vertaid.store import Store, open_store
from vertaid.web import create_app

ROOT: Final = Path(__file__).parent.parent.parent
EXAMPLES: Final = ROOT / "examples" / "fhir"
VIGNETTES: Final = ROOT / "tests" / "vignettes"

ISSUER: Final = "https://ehr.example.org"
BASE_URL: Final = "http://testserver"
PATIENT_ID: Final = "patient"
REFERENCE_TIME: Final = datetime.fromisoformat("2025-06-02T09:00:00+00:00")
"""The examples' Bundle timestamp: the day their ages and weeks count back from."""

PATIENT_VIEW: Final = "vertaid-patient-view"
ORDER_SELECT: Final = "vertaid-order-select"
ORDER_SIGN: Final = "vertaid-order-sign"
CPT: Final = "http://www.ama-assn.org/go/cpt"

PREFETCH_KEY_OF: Final = {query.partition("?")[0]: key for key, query in PREFETCH.items() if "?" in query}
"""The prefetch key whose search returns each kind of resource (the Patient is read by id)."""


@dataclass(frozen=True)
class Signer:
    """The trusted client: signs tokens with its EC (``ec-1``) or RSA (``rsa-1``) key."""

    ec_key: ec.EllipticCurvePrivateKey
    rsa_key: rsa.RSAPrivateKey
    jwks_path: Path

    def token(
        self,
        audience: str | list[str],
        *,
        algorithm: str = "ES384",
        kid: str | None = None,
        issuer: str = ISSUER,
        lifetime: int = 300,
        issued_ago: int = 0,
        token_id: str | None = None,
        headers: dict[str, Any] | None = None,
        leave_out: tuple[str, ...] = (),
    ) -> str:
        """A signed token for ``audience`` (a fresh jti unless ``token_id``)."""
        now = int(time.time()) - issued_ago
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": audience,
            "iat": now,
            "exp": now + lifetime,
            "jti": token_id or str(uuid.uuid4()),
        }
        for claim in leave_out:
            del claims[claim]
        key: Any = self.ec_key if algorithm.startswith("ES") else self.rsa_key
        chosen_kid = kid if kid is not None else ("ec-1" if algorithm.startswith("ES") else "rsa-1")
        return jwt.encode(
            claims, key, algorithm=algorithm, headers={"kid": chosen_kid, "typ": "JWT", **(headers or {})}
        )

    def authorization(self, path: str, **options: Any) -> dict[str, str]:
        """The Authorization header of a call to ``path`` (under the test base URL)."""
        return {"Authorization": f"Bearer {self.token(BASE_URL + path, **options)}"}


def _public_jwk(key: Any, kid: str, algorithm: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(key))
    return {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}


def make_signer(folder: Path) -> Signer:
    """A trusted client with new keys, its public JWKS written to ``folder``/jwks.json."""
    ec_key = ec.generate_private_key(ec.SECP384R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = {
        "keys": [
            _public_jwk(ec_key.public_key(), "ec-1", "ES384"),
            _public_jwk(rsa_key.public_key(), "rsa-1", "RS384"),
        ]
    }
    path = folder / "jwks.json"
    path.write_text(json.dumps(jwks), encoding="utf-8")
    return Signer(ec_key, rsa_key, path)


@pytest.fixture(scope="session")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    """The trusted client's keys, made once per run, and its public JWKS in a file."""
    return make_signer(tmp_path_factory.mktemp("cds-jwks"))


def settings_for(signer: Signer, **overrides: Any) -> CdsSettings:
    """The test settings: ``ISSUER`` trusted with the signer's JWKS, the test base URL, the examples' day."""
    options: dict[str, Any] = {
        "issuers": {ISSUER: str(signer.jwks_path)},
        "base_url": BASE_URL,
        "reference_time": lambda: REFERENCE_TIME,
        **overrides,
    }
    return CdsSettings(**options)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The module's SQLite store, closed afterwards."""
    opened = open_store(f"sqlite:///{tmp_path_factory.mktemp('cds-store') / 'vertaid.db'}")
    try:
        yield opened
    finally:
        opened.dispose()


@pytest.fixture(scope="module")
def app(store: Store, signer: Signer) -> FastAPI:
    """The web application, CDS Hooks included, trusting the test client."""
    return create_app(store, cds=settings_for(signer))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client of the application."""
    with TestClient(app, base_url=BASE_URL) as test_client:
        yield test_client


# -- requests -----------------------------------------------------------------------------------------


def example_bundle(name: str) -> dict[str, Any]:
    """One example Bundle of examples/fhir (named like its vignette)."""
    bundle: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return bundle


def expected_decision(name: str) -> str:
    """The decision the policy gives the vignette an example Bundle was made from."""
    document = json.loads((VIGNETTES / f"{name}.json").read_text(encoding="utf-8"))
    decision: str = document["expected"]["decision"]
    return decision


def prefetch_of(bundle: dict[str, Any]) -> dict[str, Any]:
    """A Bundle's resources as a CDS Hooks client would prefetch them: the Patient read by id, each
    other kind a searchset Bundle (empty when the patient has none)."""
    prefetch: dict[str, Any] = {"patient": None}
    searches: dict[str, list[dict[str, Any]]] = {key: [] for key in PREFETCH_KEY_OF.values()}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            prefetch["patient"] = resource
        else:
            searches[PREFETCH_KEY_OF[resource["resourceType"]]].append(
                {"fullUrl": entry["fullUrl"], "resource": resource}
                if "fullUrl" in entry
                else {"resource": resource}
            )
    for key, entries in searches.items():
        search: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(entries)}
        if entries:
            search["entry"] = entries
        prefetch[key] = search
    return prefetch


def augmentation_order(code: str, order_id: str = "order-1") -> dict[str, Any]:
    """A draft ServiceRequest for the procedure with this CPT code."""
    return {
        "resourceType": "ServiceRequest",
        "id": order_id,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "code": {"coding": [{"system": CPT, "code": code}]},
    }


def draft_orders(*orders: dict[str, Any]) -> dict[str, Any]:
    """The draftOrders Bundle of an order hook."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": order} for order in orders],
    }


def hook_request(
    hook: str,
    prefetch: dict[str, Any] | None,
    orders: list[dict[str, Any]] | None = None,
    selections: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A CDS Hooks request for the test patient (``prefetch`` None: no prefetch member)."""
    context: dict[str, Any] = {"userId": "Practitioner/dr-1", "patientId": PATIENT_ID}
    if orders is not None:
        context["draftOrders"] = draft_orders(*orders)
        if hook == "order-select":
            context["selections"] = (
                selections
                if selections is not None
                else [f"ServiceRequest/{order['id']}" for order in orders]
            )
    request: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context, **extra}
    if prefetch is not None:
        request["prefetch"] = prefetch
    return request
