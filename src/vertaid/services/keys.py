"""API keys for the web service's writes (CONTRACT §5): created once, kept only as a hash.

A key reads ``vtd_<key id>_<secret>``. The key id (16 hexadecimal digits) is stored as it is, to find the
key; the secret (43 URL-safe characters, 256 random bits from :mod:`secrets`) is stored only as its
sha256, and a presented secret's hash is compared with :func:`hmac.compare_digest` so that the time taken
says nothing about how much of it was right. The key's name identifies it in the audit trail.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from datetime import UTC, datetime
from typing import Final

from vertaid.services.ports import ApiKeyEntry, KeyNameTaken, KeyRepository

__all__ = ["KEY_PREFIX", "MAX_KEY_NAME", "KeyNameTaken", "authenticate", "checked_name", "create_key"]

KEY_PREFIX: Final = "vtd"
"""Begins every key, so that a key pasted where it does not belong is easy to recognise and find."""

MAX_KEY_NAME: Final = 100
"""The longest key name, in characters."""

_PRESENTED_KEY: Final = re.compile(
    rf"{KEY_PREFIX}_(?P<key_id>[0-9a-f]{{16}})_(?P<secret>[A-Za-z0-9_-]{{43}})", re.ASCII
)


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def checked_name(
    name: object, what: str = "key name", hint: str = "give the key a name that says who or what uses it"
) -> str:
    """``name`` trimmed, when it can name someone in the audit trail: 1 to 100 characters, none of them
    a control or invisible character.

    Raises:
        ValueError: saying what is wrong with ``what`` (the name's role), with ``hint`` when it is blank.
    """
    if not isinstance(name, str):
        raise ValueError(f"{what} must be text, not {type(name).__name__}")
    clean = name.strip()
    if not clean:
        raise ValueError(f"{what} is blank: {hint}")
    if len(clean) > MAX_KEY_NAME:
        raise ValueError(f"{what} is {len(clean)} characters long; at most {MAX_KEY_NAME} are allowed")
    if any(unicodedata.category(character).startswith("C") for character in clean):
        raise ValueError(f"{what} contains a control or invisible character")
    return clean


def create_key(store: KeyRepository, name: str) -> str:
    """Create an API key named ``name`` (trimmed) and return it; this is the only time it is shown.

    Raises:
        ValueError: the name is blank, too long or holds control characters; :class:`KeyNameTaken` (a
            ``ValueError``) when a key of that name exists.
    """
    clean = checked_name(name)
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    store.add_key(
        ApiKeyEntry(key_id=key_id, name=clean, secret_hash=_secret_hash(secret), created_at=datetime.now(UTC))
    )
    return f"{KEY_PREFIX}_{key_id}_{secret}"


def authenticate(store: KeyRepository, presented_key: str) -> str | None:
    """The name of the key presented, or ``None`` when it is not a key this store issued."""
    match = _PRESENTED_KEY.fullmatch(presented_key)
    if match is None:
        return None
    entry = store.find_key(match["key_id"])
    if entry is None:
        return None
    if not hmac.compare_digest(entry.secret_hash, _secret_hash(match["secret"])):
        return None
    return entry.name
