"""Trusting CDS Hooks clients: every failure of the JWT gets a bare 401 and no cards; tokens never logged."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, Final

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.cds.conftest import (
    BASE_URL,
    ISSUER,
    PATIENT_VIEW,
    Signer,
    example_bundle,
    hook_request,
    prefetch_of,
)

PATH: Final = f"/cds-services/{PATIENT_VIEW}"
URL: Final = BASE_URL + PATH


def _body() -> dict[str, Any]:
    return hook_request("patient-view", prefetch_of(example_bundle("02-collapse-over-30")))


def _unsigned(signer: Signer) -> str:
    return jwt.encode({"iss": ISSUER, "aud": URL, "iat": 1, "exp": 2**31, "jti": "u-1"}, "", algorithm="none")


def _hmac(signer: Signer) -> str:
    # A symmetric signature naming a real kid: refused for its algorithm whatever the secret.
    claims = {"iss": ISSUER, "aud": URL, "iat": 1, "exp": 2**31, "jti": "h-1"}
    return jwt.encode(
        claims, "a-shared-secret-of-32-bytes-or-more", algorithm="HS256", headers={"kid": "ec-1"}
    )


FAILURES: Final[dict[str, Callable[[Signer], str | None]]] = {
    "missing": lambda signer: None,
    "unsigned (alg none)": _unsigned,
    "HS256": _hmac,
    "expired": lambda signer: signer.token(URL, issued_ago=600, lifetime=300),
    "issued in the future": lambda signer: signer.token(URL, issued_ago=-600),
    "wrong aud": lambda signer: signer.token(BASE_URL + "/cds-services/another-service"),
    "aud of another host": lambda signer: signer.token("https://elsewhere.example.org" + PATH),
    "unknown issuer": lambda signer: signer.token(URL, issuer="https://rogue.example.org"),
    "unknown kid": lambda signer: signer.token(URL, kid="no-such-key"),
    "kid of the other key type": lambda signer: signer.token(URL, kid="rsa-1"),
    "RS256 (not allowed)": lambda signer: signer.token(URL, algorithm="RS256"),
    "no jti": lambda signer: signer.token(URL, leave_out=("jti",)),
    "no exp": lambda signer: signer.token(URL, leave_out=("exp",)),
    "lives over an hour": lambda signer: signer.token(URL, lifetime=7200),
    "bad signature": lambda signer: signer.token(URL)[:-6] + "AAAAAA",
    "not a JWT": lambda signer: "not-a-token",
}


@pytest.mark.parametrize("failure", FAILURES)
def test_each_token_failure_is_a_bare_401_without_cards(
    client: TestClient, signer: Signer, failure: str
) -> None:
    """A call whose token is missing, unsigned, HMAC, expired, for another audience, from an unknown
    issuer or key, or otherwise not good gets 401 with an empty body (no cards, no reason)."""
    token = FAILURES[failure](signer)
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}

    response = client.post(PATH, json=_body(), headers=headers)

    assert (401, b"") == (response.status_code, response.content)
    assert "Bearer" == response.headers["www-authenticate"]


def test_a_replayed_token_is_refused(client: TestClient, signer: Signer) -> None:
    """The same token twice: the first call is answered, the second gets 401 (its jti was seen)."""
    headers = {"Authorization": f"Bearer {signer.token(URL)}"}

    first = client.post(PATH, json=_body(), headers=headers)
    second = client.post(PATH, json=_body(), headers=headers)

    assert (200, 401, b"") == (first.status_code, second.status_code, second.content)


def test_a_new_jti_passes_after_another_was_used(client: TestClient, signer: Signer) -> None:
    """Only the jti seen before is refused: two tokens with different ids both pass."""
    first = client.post(
        PATH, json=_body(), headers={"Authorization": f"Bearer {signer.token(URL, token_id='j-1')}"}
    )
    fresh = client.post(
        PATH, json=_body(), headers={"Authorization": f"Bearer {signer.token(URL, token_id='j-2')}"}
    )

    assert (200, 200) == (first.status_code, fresh.status_code)


@pytest.mark.parametrize("algorithm", ["ES384", "RS384"])
def test_es384_and_rs384_tokens_are_accepted(client: TestClient, signer: Signer, algorithm: str) -> None:
    """Both recommended algorithms pass, each with its own key from the JWKS."""
    response = client.post(PATH, json=_body(), headers=signer.authorization(PATH, algorithm=algorithm))

    assert 200 == response.status_code


def test_an_aud_list_holding_the_endpoint_is_accepted(client: TestClient, signer: Signer) -> None:
    """``aud`` may be a list of strings (RFC 7519): it passes when it holds this endpoint."""
    token = signer.token([URL, "https://other.example.org/cds-services/x"])

    response = client.post(PATH, json=_body(), headers={"Authorization": f"Bearer {token}"})

    assert 200 == response.status_code


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/cds-services"), ("POST", f"{PATH}/feedback"), ("POST", "/cds-services/vertaid-order-sign")],
)
def test_discovery_feedback_and_every_service_need_a_token(
    client: TestClient, method: str, path: str
) -> None:
    """Every endpoint under /cds-services refuses a call without a token."""
    response = client.request(method, path, json={})

    assert (401, b"") == (response.status_code, response.content)


def test_a_token_for_discovery_does_not_open_a_service(client: TestClient, signer: Signer) -> None:
    """The audience is the exact endpoint: a token made for discovery is refused by a service."""
    token = signer.token(BASE_URL + "/cds-services")

    response = client.post(PATH, json=_body(), headers={"Authorization": f"Bearer {token}"})

    assert 401 == response.status_code


def test_no_token_is_ever_logged(
    client: TestClient, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither a good token nor a refused one appears in the log (as vertaid serve writes it, one JSON
    object a line); a refusal is logged with its issuer."""
    from vertaid.logs import json_formatter

    good = signer.token(URL)
    expired = signer.token(URL, issued_ago=600)
    with caplog.at_level(logging.DEBUG):
        client.post(PATH, json=_body(), headers={"Authorization": f"Bearer {good}"})
        client.post(PATH, json=_body(), headers={"Authorization": f"Bearer {expired}"})

    formatter = json_formatter()
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    assert good not in logged and expired not in logged
    assert good.split(".")[2] not in logged and expired.split(".")[2] not in logged
    assert "refused" in logged and ISSUER in logged


def test_without_trusted_issuers_every_call_is_refused(signer: Signer, tmp_path: Any) -> None:
    """With no VERTAID_CDS_ISSUERS, no caller is trusted: even a well-signed token gets 401."""
    from vertaid.cds import CdsSettings
    from vertaid.store import open_store
    from vertaid.web import create_app

    store = open_store(f"sqlite:///{tmp_path / 'v.db'}")
    try:
        app = create_app(store, cds=CdsSettings(base_url=BASE_URL))
        with TestClient(app, base_url=BASE_URL) as client:
            response = client.post(PATH, json=_body(), headers=signer.authorization(PATH))
    finally:
        store.dispose()

    assert 401 == response.status_code


def test_an_issuers_jwks_may_be_a_url(signer: Signer, tmp_path: Any) -> None:
    """VERTAID_CDS_ISSUERS may name a JWKS by https URL: it is fetched (once) and its keys trusted."""
    import httpx

    from tests.cds.conftest import settings_for
    from vertaid.store import open_store
    from vertaid.web import create_app

    fetched: list[str] = []

    def jwks_server(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        return httpx.Response(200, content=signer.jwks_path.read_bytes())

    settings = settings_for(
        signer,
        issuers={ISSUER: "https://ehr.example.org/.well-known/jwks.json"},
        transport=httpx.MockTransport(jwks_server),
    )
    store = open_store(f"sqlite:///{tmp_path / 'v.db'}")
    try:
        with TestClient(create_app(store, cds=settings), base_url=BASE_URL) as client:
            answers = [
                client.post(PATH, json=_body(), headers=signer.authorization(PATH)).status_code
                for _ in range(2)
            ]
    finally:
        store.dispose()

    assert ([200, 200], ["https://ehr.example.org/.well-known/jwks.json"]) == (answers, fetched)


def test_a_jku_in_the_token_is_never_followed(client: TestClient, signer: Signer) -> None:
    """A token naming a jku of its own is checked against the configured JWKS only: a kid found only
    at the jku (which vertaid never fetches) is refused."""
    token = signer.token(URL, kid="attacker-key", headers={"jku": "https://attacker.example.org/jwks.json"})

    response = client.post(PATH, json=_body(), headers={"Authorization": f"Bearer {token}"})

    assert 401 == response.status_code


def _forged(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token with this header and these claims and a made-up signature (never a valid one)."""
    import base64
    import json

    def part(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}.c2lnbmF0dXJl"


GOOD_CLAIMS: Final = {"iss": ISSUER, "aud": URL, "iat": 1, "exp": 2**31, "jti": "f-1"}


@pytest.mark.parametrize(
    ("header", "claims"),
    [
        ({"alg": "ES384", "kid": "ec-1", "typ": 5}, GOOD_CLAIMS),
        ({"alg": "ES384", "kid": ["ec-1"]}, GOOD_CLAIMS),
        ({"alg": ["ES384"], "kid": "ec-1"}, GOOD_CLAIMS),
        ({"alg": "ES384", "kid": "ec-1"}, {**GOOD_CLAIMS, "iss": ["a"]}),
        ({"alg": "ES384", "kid": "ec-1"}, [1, 2]),
        ({"alg": "ES384", "kid": "ec-1"}, {**GOOD_CLAIMS, "exp": "soon"}),
        ({"alg": "ES384", "kid": "ec-1", "crit": ["exp"]}, GOOD_CLAIMS),
    ],
)
def test_a_malformed_token_is_a_401_never_a_failure(
    client: TestClient, header: dict[str, Any], claims: Any
) -> None:
    """Odd headers and claims (types CDS Hooks does not allow) are refused with 401, never a 500."""
    response = client.post(PATH, json=_body(), headers={"Authorization": f"Bearer {_forged(header, claims)}"})

    assert (401, b"") == (response.status_code, response.content)


def _hmac_signed(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """A token whose signature is a real HMAC of its content under ``secret`` (PyJWT refuses to make one
    with a public key as the secret: here it is made by hand, as an attacker would)."""
    import base64
    import hashlib
    import hmac

    def part(value: bytes) -> str:
        return base64.urlsafe_b64encode(value).rstrip(b"=").decode()

    signing_input = f"{part(json.dumps(header).encode())}.{part(json.dumps(claims).encode())}"
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384}[header["alg"]]
    signature = hmac.new(secret, signing_input.encode(), digest).digest()
    return f"{signing_input}.{part(signature)}"


def _public_key_secrets(signer: Signer) -> dict[str, tuple[str, bytes]]:
    """The trusted client's public keys in every form an HMAC confusion attack would use as the secret,
    each with the kid that names the key."""
    from cryptography.hazmat.primitives import serialization

    pem = serialization.Encoding.PEM
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    pkcs1 = serialization.PublicFormat.PKCS1
    jwks = {key["kid"]: key for key in json.loads(signer.jwks_path.read_text())["keys"]}
    return {
        "RSA PEM": ("rsa-1", signer.rsa_key.public_key().public_bytes(pem, spki)),
        "RSA PKCS#1 PEM": ("rsa-1", signer.rsa_key.public_key().public_bytes(pem, pkcs1)),
        "EC PEM": ("ec-1", signer.ec_key.public_key().public_bytes(pem, spki)),
        "RSA JWK": ("rsa-1", json.dumps(jwks["rsa-1"]).encode()),
        "EC JWK": ("ec-1", json.dumps(jwks["ec-1"]).encode()),
    }


@pytest.mark.parametrize("algorithm", ["HS256", "HS384"])
@pytest.mark.parametrize("form", ["RSA PEM", "RSA PKCS#1 PEM", "EC PEM", "RSA JWK", "EC JWK"])
def test_an_hmac_signed_with_the_public_key_as_its_secret_is_refused(
    client: TestClient, signer: Signer, algorithm: str, form: str
) -> None:
    """The algorithm-confusion attack: a token 'signed' with HMAC whose secret is the issuer's public key
    (which anyone can read from its JWKS), naming that key's kid. A verifier that let the token choose
    its algorithm would accept it; vertaid refuses every HMAC: 401, no body."""
    kid, secret = _public_key_secrets(signer)[form]
    claims = {"iss": ISSUER, "aud": URL, "iat": int(time.time()), "exp": int(time.time()) + 300}
    token = _hmac_signed({"alg": algorithm, "kid": kid, "typ": "JWT"}, claims | {"jti": f"hs-{form}"}, secret)

    response = client.post(PATH, json=_body(), headers={"Authorization": f"Bearer {token}"})

    assert (401, b"") == (response.status_code, response.content)


def _signed_as(header_algorithm: str, kid: str, key: Any, signing_algorithm: str) -> str:
    """A token signed with ``key`` by ``signing_algorithm`` whose header then claims ``header_algorithm``."""
    import base64

    now = int(time.time())
    claims = {"iss": ISSUER, "aud": URL, "iat": now, "exp": now + 300, "jti": f"mix-{header_algorithm}-{kid}"}
    real = jwt.encode(claims, key, algorithm=signing_algorithm, headers={"kid": kid})
    _, payload, signature = real.split(".")
    header = {"alg": header_algorithm, "kid": kid, "typ": "JWT"}
    forged_header = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{forged_header}.{payload}.{signature}"


@pytest.mark.parametrize(
    ("header_algorithm", "kid", "key_name", "signing_algorithm"),
    [
        ("RS384", "ec-1", "ec", "ES384"),  # the header names RSA, the kid an EC key
        ("ES384", "rsa-1", "rsa", "RS384"),  # the header names EC, the kid an RSA key
        ("RS384", "rsa-1", "rsa", "RS256"),  # the right key, signed with another hash
        ("ES384", "ec-1", "attacker-ec", "ES384"),  # the trusted kid, signed by a key of the attacker's
        ("NONE", "ec-1", "ec", "ES384"),  # 'none' in capitals, signature kept
        ("ES256", "ec-1", "ec", "ES384"),  # an algorithm not allowed, with a good signature under it
    ],
)
def test_a_token_whose_algorithm_does_not_match_its_key_is_refused(
    client: TestClient,
    signer: Signer,
    header_algorithm: str,
    kid: str,
    key_name: str,
    signing_algorithm: str,
) -> None:
    """The algorithm the header names must be one allowed and the one of the key its kid names, and
    the signature must be that key's: any mismatch is a bare 401."""
    from cryptography.hazmat.primitives.asymmetric import ec

    keys = {
        "ec": signer.ec_key,
        "rsa": signer.rsa_key,
        "attacker-ec": ec.generate_private_key(ec.SECP384R1()),
    }
    token = _signed_as(header_algorithm, kid, keys[key_name], signing_algorithm)

    response = client.post(PATH, json=_body(), headers={"Authorization": f"Bearer {token}"})

    assert (401, b"") == (response.status_code, response.content)


def test_a_token_replayed_after_a_restart_is_still_refused(signer: Signer, tmp_path: Any) -> None:
    """The token ids seen are kept in the store, not in memory: a new application over the same store
    refuses a token the first one accepted."""
    from tests.cds.conftest import settings_for
    from vertaid.store import open_store
    from vertaid.web import create_app

    url = f"sqlite:///{tmp_path / 'v.db'}"
    headers = {"Authorization": f"Bearer {signer.token(URL)}"}
    answers = []
    for _ in range(2):
        store = open_store(url)
        try:
            with TestClient(create_app(store, cds=settings_for(signer)), base_url=BASE_URL) as client:
                answers.append(client.post(PATH, json=_body(), headers=headers).status_code)
        finally:
            store.dispose()

    assert [200, 401] == answers
