"""API keys (CONTRACT §5): shown once, kept only as a hash, checked in constant time."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.store.conftest import Database
from vertaid.services.keys import KeyNameTaken, authenticate, create_key
from vertaid.store import Store, open_store


def test_a_created_key_authenticates_as_its_name(store: Store) -> None:
    """The key create_key returns is recognised by authenticate, which answers with the key's name."""
    key = create_key(store, "clinic-a")
    other = create_key(store, "ehr-bridge")

    assert authenticate(store, key) == "clinic-a"
    assert authenticate(store, other) == "ehr-bridge"
    assert key != other


def test_a_key_with_a_wrong_secret_or_shape_is_refused(store: Store) -> None:
    """A key with one character of its secret changed, another key's id, or any other text: None."""
    key = create_key(store, "clinic-a")
    other = create_key(store, "ehr-bridge")
    prefix, key_id, secret = key.split("_", 2)
    changed = secret[:-1] + ("A" if secret[-1] != "A" else "B")

    for presented in [
        f"{prefix}_{key_id}_{changed}",
        f"{prefix}_{other.split('_', 2)[1]}_{secret}",
        key + "x",
        key[:-1],
        key.upper(),
        f"Bearer {key}",
        "",
        "vtd_",
    ]:
        assert authenticate(store, presented) is None, presented


def test_only_a_hash_of_the_key_is_stored(store: Store, database: Database) -> None:
    """Neither the key nor its secret appears anywhere in the database; the secret's sha256 does."""
    key = create_key(store, "clinic-a")
    secret = key.split("_", 2)[2]

    [(key_id, name, secret_hash)] = database.rows("SELECT key_id, name, secret_hash FROM api_keys")
    everything = " ".join(
        str(value)
        for table in ("api_keys", "assessments", "audit_records")
        for row in database.rows(f"SELECT * FROM {table}")
        for value in row
    )

    assert (name, key_id) == ("clinic-a", key.split("_", 2)[1])
    assert secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert key not in everything
    assert secret not in everything


def test_the_key_text_is_not_in_the_sqlite_file(tmp_path: Path) -> None:
    """On SQLite, the bytes of the database file and its write-ahead log hold no trace of the secret."""
    path = tmp_path / "vertaid.db"
    store = open_store(f"sqlite:///{path}")
    key = create_key(store, "clinic-a")
    store.dispose()
    files = [path, path.with_name(path.name + "-wal")]
    contents = b"".join(file.read_bytes() for file in files if file.exists())

    assert key.split("_", 2)[2].encode() not in contents
    assert b"clinic-a" in contents  # the name is there: the file was read


def test_a_duplicate_name_is_refused_naming_it(store: Store) -> None:
    """A second key with a name in use (spaces around it do not make it new) is a ValueError naming it."""
    create_key(store, "clinic-a")

    with pytest.raises(KeyNameTaken, match="a key named 'clinic-a' exists already"):
        create_key(store, "  clinic-a ")
    assert issubclass(KeyNameTaken, ValueError)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "blank"),
        ("   \t", "blank"),
        ("x" * 101, "101 characters long; at most 100"),
        ("clinic\na", "control or invisible character"),
        ("clinic\u200ba", "control or invisible character"),
    ],
)
def test_an_unusable_name_is_refused_naming_the_problem(
    store: Store, database: Database, name: str, problem: str
) -> None:
    """Blank, overlong or control-character names raise ValueError saying why, and store nothing."""
    with pytest.raises(ValueError, match=problem):
        create_key(store, name)

    assert database.rows("SELECT count(*) FROM api_keys") == [(0,)]
