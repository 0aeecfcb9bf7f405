"""What the CDS Hooks service keeps: the ids of the tokens it has accepted, and the feedback on its cards.

Token ids are kept as the sha256 of the issuer and the ``jti`` together (two issuers may use the same
``jti``), never the token itself, and only until the token expires: a replayed token is refused while it
is otherwise valid, and refused as expired after that.

Feedback (CDS Hooks 2.0.1 §Feedback) is checked before anything is stored: a document with one bad item
stores nothing and names every problem by its path.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from vertaid.domain._shapes import Problem, describe
from vertaid.services.ports import CdsFeedbackEntry, CdsFeedbackRepository, CdsTokenRepository

__all__ = [
    "MAX_COMMENT",
    "MAX_FEEDBACK_ITEMS",
    "InvalidFeedback",
    "claim_token",
    "parse_timestamp",
    "record_feedback",
    "token_hash",
]

MAX_FEEDBACK_ITEMS: Final = 100
"""The most feedback items one request may hold."""

MAX_COMMENT: Final = 4000
"""The longest ``userComment`` kept, in characters."""

_MAX_ID: Final = 200
"""The longest card or suggestion id accepted (vertaid's are 36-character uuids)."""

_OUTCOMES: Final = ("accepted", "overridden")
_ITEM_KEYS: Final = frozenset(
    {"card", "outcome", "acceptedSuggestions", "overrideReason", "outcomeTimestamp"}
)
_EXTENSION: Final = "extension"
"""CDS Hooks lets any object carry an ``extension`` object; vertaid reads none and keeps none."""


class InvalidFeedback(ValueError):
    """A feedback document that does not follow CDS Hooks 2.0.1; ``problems`` are ``(path, message)``."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))


def token_hash(issuer: str, token_id: str) -> str:
    """The key a token's id is kept under: the sha256 of its issuer and ``jti``."""
    joined = json.dumps([issuer, token_id], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()


def claim_token(
    store: CdsTokenRepository, issuer: str, token_id: str, expires_at: datetime, now: datetime
) -> bool:
    """Record a token as used; ``False`` when a token of this issuer with this ``jti`` was used before."""
    return store.claim_token_id(token_hash(issuer, token_id), expires_at, now)


def parse_timestamp(text: object) -> datetime | None:
    """An RFC 3339 date and time with its offset (``2021-12-11T10:05:31Z``), or ``None``."""
    if not isinstance(text, str) or "T" not in text.upper():
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None
    return moment


def _text(value: object, path: str, problems: list[Problem], limit: int = _MAX_ID) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.append((path, f"{describe(value)} is not a non-empty string"))
        return None
    if len(value) > limit:
        problems.append((path, f"is {len(value)} characters long; at most {limit} are accepted"))
        return None
    return value


def _coding(value: object, path: str, problems: list[Problem]) -> dict[str, str] | None:
    if not isinstance(value, dict):
        problems.append((path, f"{describe(value)} is not a Coding"))
        return None
    coding: dict[str, str] = {}
    for key, member in value.items():
        if key in ("system", "code", "display"):
            checked = _text(member, f"{path}.{key}", problems, MAX_COMMENT)
            if checked is not None:
                coding[key] = checked
        elif key != _EXTENSION:
            problems.append((f"{path}.{key}", "is not a member of a Coding"))
    if "code" not in coding and "code" not in value:
        problems.append((f"{path}.code", "is required"))
    return coding


def _override_reason(value: object, path: str, problems: list[Problem]) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        problems.append((path, f"{describe(value)} is not an object"))
        return None
    reason: dict[str, Any] = {}
    for key, member in value.items():
        if key == "reason":
            coding = _coding(member, f"{path}.reason", problems)
            if coding is not None:
                reason["reason"] = coding
        elif key == "userComment":
            comment = _text(member, f"{path}.userComment", problems, MAX_COMMENT)
            if comment is not None:
                reason["userComment"] = comment
        elif key != _EXTENSION:
            problems.append((f"{path}.{key}", "is not a member of an override reason"))
    if "reason" not in value and "userComment" not in value:
        problems.append((path, "needs a reason or a userComment"))
    return reason


def _accepted(value: object, path: str, problems: list[Problem]) -> list[str]:
    if not isinstance(value, list) or not value:
        problems.append((path, f"{describe(value)} is not a non-empty list of accepted suggestions"))
        return []
    ids = []
    for index, member in enumerate(value):
        where = f"{path}[{index}]"
        if not isinstance(member, dict) or "id" not in member:
            problems.append((where, "is not an object with the accepted suggestion's id"))
            continue
        extra = sorted(key for key in member if key not in ("id", _EXTENSION))
        if extra:
            problems.append((f"{where}.{extra[0]}", "is not a member of an accepted suggestion"))
        checked = _text(member["id"], f"{where}.id", problems)
        if checked is not None:
            ids.append(checked)
    return ids


def _entry_id(now: datetime, index: int) -> str:
    """32 hexadecimal digits that sort as the feedback arrived: the time, the place in its document,
    then randomness (two documents may arrive in the same microsecond)."""
    micros = int(now.timestamp() * 1_000_000)
    return f"{micros:015x}{index:05x}{secrets.token_hex(6)}"


def _item(
    value: object,
    index: int,
    problems: list[Problem],
    service_id: str,
    issuer: str,
    now: datetime,
) -> CdsFeedbackEntry | None:
    path = f"feedback[{index}]"
    if not isinstance(value, dict):
        problems.append((path, f"{describe(value)} is not a feedback object"))
        return None
    before = len(problems)
    for key in value:
        if key not in _ITEM_KEYS and key != _EXTENSION:
            problems.append((f"{path}.{key}", "is not a member of a feedback item"))
    for key in ("card", "outcome", "outcomeTimestamp"):
        if key not in value:
            problems.append((f"{path}.{key}", "is required"))
    card = _text(value.get("card"), f"{path}.card", problems) if "card" in value else None
    outcome = value.get("outcome")
    if "outcome" in value and outcome not in _OUTCOMES:
        problems.append((f"{path}.outcome", f"{describe(outcome)} is not accepted or overridden"))
    timestamp = None
    if "outcomeTimestamp" in value:
        timestamp = parse_timestamp(value["outcomeTimestamp"])
        if timestamp is None:
            problems.append(
                (f"{path}.outcomeTimestamp", "is not an RFC 3339 date and time with its offset (…Z)")
            )
    accepted: list[str] = []
    if outcome == "accepted":
        accepted = _accepted(value.get("acceptedSuggestions"), f"{path}.acceptedSuggestions", problems)
        if "overrideReason" in value:
            problems.append((f"{path}.overrideReason", "is only for an overridden card"))
    elif outcome == "overridden" and "acceptedSuggestions" in value:
        problems.append((f"{path}.acceptedSuggestions", "is only for an accepted card"))
    reason = None
    if outcome == "overridden" and "overrideReason" in value:
        reason = _override_reason(value["overrideReason"], f"{path}.overrideReason", problems)
    if len(problems) > before or card is None or timestamp is None or not isinstance(outcome, str):
        return None
    return CdsFeedbackEntry(
        id=_entry_id(now, index),
        received_at=now,
        service_id=service_id,
        issuer=issuer,
        card_uuid=card,
        outcome=outcome,
        outcome_timestamp=timestamp,
        accepted_suggestions_json=json.dumps(accepted, ensure_ascii=False),
        override_reason_json=None
        if reason is None
        else json.dumps(reason, ensure_ascii=False, sort_keys=True),
    )


def record_feedback(
    store: CdsFeedbackRepository, service_id: str, issuer: str, document: object, now: datetime
) -> list[CdsFeedbackEntry]:
    """Check a feedback document (``{"feedback": [...]}``) and store every item, or none.

    Raises:
        InvalidFeedback: naming every problem by its path (``feedback[0].outcome``).
    """
    problems: list[Problem] = []
    if not isinstance(document, Mapping):
        raise InvalidFeedback([("$", f"{describe(document)} is not an object with a feedback list")])
    for key in document:
        if key not in ("feedback", _EXTENSION):
            problems.append((str(key), "is not a member of a feedback document"))
    items = document.get("feedback")
    if not isinstance(items, list) or not items:
        problems.append(("feedback", f"{describe(items)} is not a non-empty list"))
        raise InvalidFeedback(problems)
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise InvalidFeedback([("feedback", f"holds {len(items)} items; at most {MAX_FEEDBACK_ITEMS}")])
    entries = [_item(item, index, problems, service_id, issuer, now) for index, item in enumerate(items)]
    if problems:
        raise InvalidFeedback(problems)
    kept = [entry for entry in entries if entry is not None]
    store.add_cds_feedback(kept)
    return kept
