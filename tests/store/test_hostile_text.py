"""Text that looks like SQL, stored as data (issue 7), on SQLite and PostgreSQL: case ids and key names
made of injection strings, quotes, NUL-free control characters and non-BMP text are stored and read back
exactly as given, every table is still there, and the audit trail is whole."""

from __future__ import annotations

from typing import Final

from tests.store.conftest import Database, vignette_case
from vertaid.services.audit import verify_audit
from vertaid.services.keys import authenticate, create_key
from vertaid.services.records import get_assessment, recent_assessments, record_assessment
from vertaid.store import Store

HOSTILE_TEXT: Final = (
    "'; DROP TABLE assessments; --",
    "1' OR '1'='1",
    '"); DELETE FROM audit_records; --',
    "x' UNION SELECT secret_hash FROM api_keys --",
    "\\'; TRUNCATE api_keys CASCADE; --",
    "$$; DROP TABLE audit_records; $$",
    "%_%' ESCAPE '\\",
    "e\u0301 \U0001f9b4 \u202e \t\r\n",
)
"""Injection strings for both dialects (quotes, comments, UNION, PostgreSQL's dollar quoting, LIKE
wildcards) and text that trips naive encoders (combining marks, a non-BMP character, bidi, whitespace)."""


def test_hostile_text_is_stored_and_read_back_verbatim(store: Store, database: Database) -> None:
    """Each string as a case id and (where a key's name may hold it) as a key's name: read back
    unchanged by id, in the recent list and by the key; the tables all stand; the audit trail verifies."""
    stored = []
    for text in HOSTILE_TEXT:
        # A key's name may hold no control or invisible character (the last text has both): none then.
        key_name = text if text.isprintable() else None
        if key_name is not None:
            assert authenticate(store, create_key(store, key_name)) == key_name
        stored.append(
            record_assessment(store, vignette_case("07-mild-pain.json") | {"id": text}, key_name=key_name)
        )

    for entry, text in zip(stored, HOSTILE_TEXT, strict=True):
        read = get_assessment(store, entry.id)
        assert read is not None
        assert (read.case["id"], read.assessment["case_id"]) == (text, text)
        assert read.key_name == entry.key_name
    listed = {item.id: item.assessment["case_id"] for item in recent_assessments(store, 100)}
    assert [listed[entry.id] for entry in stored] == list(HOSTILE_TEXT)
    for table in ("assessments", "audit_records", "api_keys"):
        assert database.rows(f"SELECT count(*) FROM {table}")[0][0] > 0
    verdict = verify_audit(store)
    assert (verdict.whole, verdict.records) == (True, len(HOSTILE_TEXT))
