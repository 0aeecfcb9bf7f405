"""How the CDS Hooks service is configured: the trusted callers, its own address, its clocks.

``VERTAID_CDS_ISSUERS`` (CONTRACT §5) is a JSON object mapping each allowed ``iss`` to the path or URL
of its JWKS, e.g. ``{"https://sandbox.cds-hooks.org": "https://sandbox.cds-hooks.org/.well-known/jwks.json"}``.
Without it no caller is trusted and every call gets 401. ``VERTAID_CDS_BASE_URL`` is the address the
clients call (``https://cds.example.org``): each token's ``aud`` must be the endpoint under it, and the
cards' links point there. Without it the address the request was made to is used, which is right only
when no proxy stands in between (and lets a forged Host header choose the audience; set it in production).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx

__all__ = [
    "BASE_URL_VARIABLE",
    "ISSUERS_VARIABLE",
    "MAX_ISSUER_LENGTH",
    "CdsConfigurationError",
    "CdsSettings",
    "is_allowed_url",
]

ISSUERS_VARIABLE: Final = "VERTAID_CDS_ISSUERS"
BASE_URL_VARIABLE: Final = "VERTAID_CDS_BASE_URL"

MAX_ISSUER_LENGTH: Final = 96
"""The longest ``iss`` accepted: the issuer names the caller in the audit trail (``cds:<iss>``, at most
100 characters)."""

_LOOPBACK: Final = frozenset({"localhost", "127.0.0.1", "::1"})


class CdsConfigurationError(ValueError):
    """The CDS Hooks configuration cannot be used; the message names the variable and the reason."""


def is_allowed_url(url: str) -> bool:
    """Whether vertaid may call ``url``: https, or plain http to this machine only (tests, development).

    CDS Hooks asks for TLS on every exchange of patient data; a loopback address never leaves the host.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CdsSettings:
    """The CDS Hooks service's configuration.

    Args:
        issuers: each trusted ``iss`` and the path or URL of its JWKS.
        base_url: the address clients call (``https://cds.example.org``), or ``None`` to use the
            address of each request.
        leeway_seconds: how far ``exp`` and ``iat`` may be off, for clocks that differ a little.
        max_token_seconds: the longest a token may live (``exp - iat``); a token id is remembered until
            its token expires, so this bounds what the replay store holds.
        reference_time: "now" for reading a patient's record (ages, weeks since onset); the clock by
            default, fixed in tests.
        transport: how vertaid reaches FHIR servers and JWKS URLs (httpx's default; a fake in tests).
        fetch_seconds: how long one FHIR or JWKS request may take.
    """

    issuers: Mapping[str, str] = field(default_factory=dict)
    base_url: str | None = None
    leeway_seconds: int = 30
    max_token_seconds: int = 3600
    reference_time: Callable[[], datetime] = _now
    transport: httpx.AsyncBaseTransport | None = None
    fetch_seconds: float = 10.0

    def __post_init__(self) -> None:
        for issuer, location in self.issuers.items():
            if not issuer or len(issuer) > MAX_ISSUER_LENGTH:
                raise CdsConfigurationError(
                    f"{ISSUERS_VARIABLE}: an issuer must be 1 to {MAX_ISSUER_LENGTH} characters long"
                )
            if not location.strip():
                raise CdsConfigurationError(f"{ISSUERS_VARIABLE}: {issuer!r} names no JWKS")
            if "://" in location and not is_allowed_url(location):
                raise CdsConfigurationError(
                    f"{ISSUERS_VARIABLE}: the JWKS of {issuer!r} must be an https URL (or a file path)"
                )
        if self.base_url is not None and not self.base_url.startswith(("https://", "http://")):
            raise CdsConfigurationError(
                f"{BASE_URL_VARIABLE} must be an http(s) URL, such as https://cds.example.org"
            )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> CdsSettings:
        """The settings ``VERTAID_CDS_ISSUERS`` and ``VERTAID_CDS_BASE_URL`` give.

        Raises:
            CdsConfigurationError: naming the variable and what is wrong with it.
        """
        variables = os.environ if environ is None else environ
        issuers: dict[str, str] = {}
        text = variables.get(ISSUERS_VARIABLE, "").strip()
        if text:
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as error:
                raise CdsConfigurationError(f"{ISSUERS_VARIABLE} is not JSON: {error.msg}") from None
            if not isinstance(parsed, dict) or not all(
                isinstance(key, str) and isinstance(value, str) for key, value in parsed.items()
            ):
                raise CdsConfigurationError(
                    f"{ISSUERS_VARIABLE} must be a JSON object mapping each issuer to the path or URL "
                    "of its JWKS"
                )
            issuers = parsed
        base_url = variables.get(BASE_URL_VARIABLE, "").strip().rstrip("/") or None
        return cls(issuers=issuers, base_url=base_url)
