"""Trusting CDS Hooks clients (CDS Hooks 2.0.1 §Trusting CDS Clients): every call carries a JWT.

A call is let in only when its ``Authorization: Bearer`` token

- is signed with ES384 or RS384 (never ``none``, never an HMAC), by the key its ``kid`` names in the JWKS
  configured for its issuer (a ``jku`` in the token is never followed: keys come from configuration);
- names an allowed ``iss``, and as ``aud`` the very endpoint called;
- has not expired and was not issued in the future (a small leeway for clocks), lives no longer than
  the longest lifetime allowed, and carries a ``jti`` never seen before (kept in the store until the
  token expires).

Anything else gets a bare 401: no body, no reason. The token itself is never logged or stored; a refusal
is logged with the issuer and the reason only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import jwt
from starlette.concurrency import run_in_threadpool

from vertaid.cds._config import CdsSettings, is_allowed_url

__all__ = ["ALGORITHMS", "Caller", "KeySets", "Unauthorized", "verify_token"]

ALGORITHMS: Final = ("ES384", "RS384")
"""The signatures accepted: the two CDS Hooks recommends (it forbids ``none`` and symmetric ones)."""

_KEY_TYPES: Final = {"ES384": ("EC", "P-384"), "RS384": ("RSA", None)}
_MIN_RSA_BITS: Final = 2048
_MAX_TOKEN_CHARS: Final = 16 * 1024
_MAX_JTI: Final = 255
REFRESH_SECONDS: Final = 60.0
"""A JWKS is read again when a token names a key it lacks (the issuer may have rotated its keys), at
most once a minute per issuer, so that tokens naming made-up keys cannot make vertaid fetch each time."""

_log = logging.getLogger("vertaid.cds")


class Unauthorized(Exception):
    """The call is not from a trusted client: answered with a bare 401. ``reason`` is for the log only."""

    def __init__(self, reason: str, issuer: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.issuer = issuer


@dataclass(frozen=True)
class Caller:
    """A trusted client's verified token: who issued it, its id, and when it expires."""

    issuer: str
    token_id: str
    expires_at: datetime


class KeySets:
    """Each trusted issuer's public keys (JWKS), read from the configured file or URL and kept.

    Only asymmetric keys (``EC``, ``RSA``) are kept, by ``kid``; an RSA key shorter than 2048 bits is
    left out.
    """

    def __init__(self, settings: CdsSettings) -> None:
        self._settings = settings
        self._keys: dict[str, dict[str, dict[str, Any]]] = {}
        self._read_at: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def jwk(self, issuer: str, kid: str) -> dict[str, Any] | None:
        """The JWK ``kid`` names in ``issuer``'s key set, or ``None``."""
        keys = self._keys.get(issuer)
        if keys is not None and kid in keys:
            return keys[kid]
        async with self._lock:
            read_at = self._read_at.get(issuer)
            if read_at is None or time.monotonic() - read_at >= REFRESH_SECONDS:
                self._read_at[issuer] = time.monotonic()
                try:
                    self._keys[issuer] = await self._read(self._settings.issuers[issuer])
                except (OSError, ValueError) as error:
                    _log.warning(
                        "the issuer's JWKS could not be read", extra={"issuer": issuer, "reason": str(error)}
                    )
        return self._keys.get(issuer, {}).get(kid)

    async def _read(self, location: str) -> dict[str, dict[str, Any]]:
        if "://" in location:
            import httpx

            if not is_allowed_url(location):
                raise ValueError("not an https URL")
            async with httpx.AsyncClient(
                transport=self._settings.transport, timeout=self._settings.fetch_seconds
            ) as client:
                try:
                    response = await client.get(location, headers={"Accept": "application/json"})
                except httpx.HTTPError as error:
                    raise ValueError(f"{type(error).__name__}") from None
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            document = response.json()
        else:
            text = await run_in_threadpool(Path(location).read_text, encoding="utf-8")
            document = json.loads(text)
        return _usable_keys(document)


def _usable_keys(document: object) -> dict[str, dict[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set (an object with a keys list)")
    keys: dict[str, dict[str, Any]] = {}
    for key in document["keys"]:
        if not isinstance(key, dict) or not isinstance(key.get("kid"), str):
            continue
        if key.get("kty") not in ("EC", "RSA") or "d" in key:  # public keys only: never a private one
            continue
        keys[key["kid"]] = key
    return keys


def _public_key(jwk_data: dict[str, Any], algorithm: str) -> Any:
    """The key to check an ``algorithm`` signature with, when the JWK is such a key; else ``None``."""
    kty, curve = _KEY_TYPES[algorithm]
    if jwk_data.get("kty") != kty or (curve is not None and jwk_data.get("crv") != curve):
        return None
    if jwk_data.get("alg") not in (None, algorithm):
        return None
    try:
        key = jwt.PyJWK(jwk_data, algorithm).key
    except jwt.exceptions.PyJWKError:
        return None
    if kty == "RSA" and key.key_size < _MIN_RSA_BITS:
        return None
    return key


def _whole_seconds(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unauthorized(f"{name} is not a number", claims.get("iss"))
    return int(value)


async def verify_token(
    authorization: str | None, audience: str, settings: CdsSettings, key_sets: KeySets
) -> Caller:
    """Check the ``Authorization`` header of a call to ``audience``; the caller it proves.

    The replay check (``jti`` not seen before) is the caller's, once the token is otherwise good, so
    that forged tokens never reach the store.

    Raises:
        Unauthorized: whatever is wrong, with the reason for the log.
    """
    if authorization is None:
        raise Unauthorized("no Authorization header")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN_CHARS:
        raise Unauthorized("not a Bearer token")
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.exceptions.InvalidTokenError:
        raise Unauthorized("not a JWT") from None
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or issuer not in settings.issuers:
        raise Unauthorized("issuer not trusted")
    algorithm, kid = header.get("alg"), header.get("kid")
    if algorithm not in ALGORITHMS:
        raise Unauthorized(f"algorithm {str(algorithm)[:20]!r} refused", issuer)
    if str(header.get("typ", "JWT")).upper() != "JWT":
        raise Unauthorized("typ is not JWT", issuer)
    if not isinstance(kid, str) or not kid:
        raise Unauthorized("no kid", issuer)
    jwk_data = await key_sets.jwk(issuer, kid)
    if jwk_data is None:
        raise Unauthorized("kid not in the issuer's JWKS", issuer)
    key = _public_key(jwk_data, algorithm)
    if key is None:
        raise Unauthorized("the kid names a key of another type", issuer)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            leeway=settings.leeway_seconds,
            options={"require": ["iss", "aud", "exp", "iat", "jti"]},
        )
    except jwt.exceptions.InvalidTokenError as error:
        raise Unauthorized(f"token refused ({type(error).__name__})", issuer) from None
    expires, issued = _whole_seconds(claims, "exp"), _whole_seconds(claims, "iat")
    if expires - issued > settings.max_token_seconds:
        raise Unauthorized("token lives longer than allowed", issuer)
    token_id = claims["jti"]
    if not isinstance(token_id, str) or not token_id or len(token_id) > _MAX_JTI:
        raise Unauthorized("jti is not a usable string", issuer)
    # Remembered for as long as the token could still pass the expiry check.
    expires_at = datetime.fromtimestamp(expires, UTC) + timedelta(seconds=settings.leeway_seconds)
    return Caller(issuer=issuer, token_id=token_id, expires_at=expires_at)
