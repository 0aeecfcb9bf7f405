"""What the CDS Hooks service keeps in the store: token ids (the replay check) and card feedback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pytest

from tests.store.conftest import Database
from vertaid.services.cds_records import InvalidFeedback, claim_token, record_feedback, token_hash
from vertaid.store import Store

NOW: Final = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


def test_a_token_id_is_accepted_once(store: Store) -> None:
    """The first claim of an issuer's jti succeeds, the second is a replay."""
    expires = NOW + timedelta(minutes=5)

    assert [True, False] == [
        claim_token(store, "https://ehr.example.org", "j-1", expires, NOW) for _ in range(2)
    ]


def test_the_same_jti_of_two_issuers_are_two_tokens(store: Store) -> None:
    """Token ids are kept per issuer: another issuer may use the same jti."""
    expires = NOW + timedelta(minutes=5)

    assert claim_token(store, "https://a.example.org", "j-1", expires, NOW)
    assert claim_token(store, "https://b.example.org", "j-1", expires, NOW)
    assert token_hash("https://a.example.org", "j-1") != token_hash("https://b.example.org", "j-1")


def test_expired_token_ids_are_forgotten_and_nothing_else(store: Store, database: Database) -> None:
    """A claim deletes the ids of tokens that expired before it, and keeps those still valid."""
    claim_token(store, "https://ehr.example.org", "old", NOW + timedelta(minutes=1), NOW)
    claim_token(store, "https://ehr.example.org", "live", NOW + timedelta(hours=1), NOW)

    claim_token(store, "https://ehr.example.org", "new", NOW + timedelta(hours=1), NOW + timedelta(minutes=2))

    kept = {row[0] for row in database.rows("SELECT token_hash FROM cds_token_ids")}
    assert {token_hash("https://ehr.example.org", j) for j in ("live", "new")} == kept


def test_no_token_is_stored_only_its_hash(store: Store, database: Database) -> None:
    """The table holds a sha256 of the issuer and jti, nothing that could be replayed."""
    claim_token(store, "https://ehr.example.org", "secret-jti", NOW + timedelta(minutes=5), NOW)

    rows = database.rows("SELECT token_hash FROM cds_token_ids")
    assert [(token_hash("https://ehr.example.org", "secret-jti"),)] == rows
    assert "secret-jti" not in json.dumps(rows)


ACCEPTED: Final[dict[str, Any]] = {
    "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
    "outcome": "accepted",
    "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
    "outcomeTimestamp": "2025-06-02T10:05:31Z",
}
OVERRIDDEN: Final[dict[str, Any]] = {
    "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
    "outcome": "overridden",
    "overrideReason": {
        "reason": {
            "system": "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes",
            "code": "prefers-alternative",
            "display": "Patient prefers an alternative approach or treatment",
        },
        "userComment": "Wants the cheaper procedure.",
    },
    "outcomeTimestamp": "2025-06-02T10:06:00+02:00",
}


def test_feedback_is_stored_and_read_back_per_card(store: Store) -> None:
    """Accepted and overridden feedback on a card is kept with its suggestions, reason and times."""
    record_feedback(
        store, "vertaid-order-sign", "https://ehr.example.org", {"feedback": [ACCEPTED, OVERRIDDEN]}, NOW
    )

    first, second = store.cds_feedback_for_card(ACCEPTED["card"])
    assert ("accepted", ["e56e1945-20b3-4393-8503-a1a20fd73152"]) == (
        first.outcome,
        json.loads(first.accepted_suggestions_json),
    )
    assert datetime(2025, 6, 2, 10, 5, 31, tzinfo=UTC) == first.outcome_timestamp
    assert ("overridden", OVERRIDDEN["overrideReason"]) == (
        second.outcome,
        json.loads(second.override_reason_json or ""),
    )
    assert datetime(2025, 6, 2, 8, 6, tzinfo=UTC) == second.outcome_timestamp
    assert ("vertaid-order-sign", "https://ehr.example.org", NOW) == (
        second.service_id,
        second.issuer,
        second.received_at,
    )


@pytest.mark.parametrize(
    ("item", "path"),
    [
        ({**ACCEPTED, "outcome": "ignored"}, "feedback[1].outcome"),
        (
            {key: value for key, value in ACCEPTED.items() if key != "acceptedSuggestions"},
            "feedback[1].acceptedSuggestions",
        ),
        ({**ACCEPTED, "outcomeTimestamp": "2025-06-02 10:05"}, "feedback[1].outcomeTimestamp"),
        ({**ACCEPTED, "outcomeTimestamp": "2025-06-02T10:05:31"}, "feedback[1].outcomeTimestamp"),
        ({**OVERRIDDEN, "overrideReason": {}}, "feedback[1].overrideReason"),
        (
            {**OVERRIDDEN, "overrideReason": {"reason": {"display": "no code"}}},
            "feedback[1].overrideReason.reason.code",
        ),
        ({key: value for key, value in ACCEPTED.items() if key != "card"}, "feedback[1].card"),
        ({**ACCEPTED, "cards": "typo"}, "feedback[1].cards"),
    ],
)
def test_invalid_feedback_stores_nothing_and_names_the_path(
    store: Store, item: dict[str, Any], path: str
) -> None:
    """A feedback document with one item breaking the spec's rules is refused whole, naming the path."""
    with pytest.raises(InvalidFeedback) as raised:
        record_feedback(
            store, "vertaid-order-sign", "https://ehr.example.org", {"feedback": [ACCEPTED, item]}, NOW
        )

    assert path in [where for where, _ in raised.value.problems]
    assert [] == store.cds_feedback_for_card(ACCEPTED["card"])
