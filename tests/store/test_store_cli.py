"""``vertaid keys create`` and ``vertaid audit verify`` (CONTRACT §5): output and exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.store.conftest import Database, vignette_case
from vertaid.cli._app import app
from vertaid.services.audit import verify_audit
from vertaid.services.keys import authenticate
from vertaid.services.records import record_assessment
from vertaid.store import Store, open_store


def _vertaid(database_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"VERTAID_DATABASE_URL": database_url})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_keys_create_prints_the_key_once_and_says_so(store: Store, database: Database) -> None:
    """The key is the only line on standard output; standard error says it is shown only once; the key
    then authenticates as its name."""
    code, out, err = _vertaid(database.url, "keys", "create", "clinic-a")

    assert code == 0
    [key] = out.splitlines()
    assert "shown only once" in err
    assert key not in err
    assert authenticate(store, key) == "clinic-a"


def test_keys_create_refuses_a_name_in_use_with_exit_2(store: Store, database: Database) -> None:
    """A second key of the same name is refused in one line (exit 2) and no key is printed."""
    assert _vertaid(database.url, "keys", "create", "clinic-a")[0] == 0

    code, out, err = _vertaid(database.url, "keys", "create", "clinic-a")

    assert (code, out) == (2, "")
    assert err == "vertaid keys create: a key named 'clinic-a' exists already; choose another name\n"


def test_audit_verify_exits_0_on_a_whole_trail(store: Store, database: Database) -> None:
    """A trail written by the store verifies: exit 0, with the number of records and the head hash."""
    for _ in range(3):
        record_assessment(store, vignette_case("02-collapse-over-30.json"), key_name="clinic-a")

    code, out, err = _vertaid(database.url, "audit", "verify")

    assert (code, err) == (0, "")
    head = verify_audit(store).head_hash
    assert out == f"The audit trail is whole: 3 records; the last record's hash is {head}.\n"


def test_audit_verify_exits_1_naming_the_first_broken_record(store: Store, database: Database) -> None:
    """After record 2 of 3 is edited behind the triggers' back, verify exits 1 and names record 2."""
    for _ in range(3):
        record_assessment(store, vignette_case("02-collapse-over-30.json"), key_name="clinic-a")
    database.tamper("audit_records", "UPDATE audit_records SET knowledge_digest = 'x' WHERE sequence = 2")

    code, out, err = _vertaid(database.url, "audit", "verify")

    assert (code, out) == (1, "")
    assert err == (
        "vertaid: the audit trail is broken at record 2: "
        "record 2 was altered: its hash does not match its content\n"
    )


@pytest.mark.parametrize("command", [["keys", "create", "clinic-a"], ["audit", "verify"]])
@pytest.mark.parametrize(
    "database_url",
    ["postgresql://clinic:s3cret@127.0.0.1:1/vertaid", "no-such-dialect://x", "sqlite:////proc/none/v.db"],
)
def test_an_unusable_store_is_exit_2_with_one_line(command: list[str], database_url: str) -> None:
    """A database that cannot be reached or a URL that is not one: exit 2, one line, no password."""
    code, out, err = _vertaid(database_url, *command)

    assert (code, out) == (2, "")
    assert err.startswith("vertaid: the store is unavailable: ")
    assert err.count("\n") == 1
    assert "s3cret" not in err


def test_the_installed_program_reports_an_unreachable_store_without_a_traceback(tmp_path: Path) -> None:
    """Run as a user would, ``vertaid audit verify`` on an unreachable server prints one line, exit 2."""
    environment = {key: value for key, value in os.environ.items() if key != "VERTAID_DEBUG"}
    environment["VERTAID_DATABASE_URL"] = "postgresql://postgres@127.0.0.1:1/test"
    vertaid = Path(sys.executable).with_name("vertaid")

    result = subprocess.run(
        [str(vertaid), "audit", "verify"], capture_output=True, env=environment, cwd=tmp_path, timeout=60
    )

    assert result.returncode == 2
    assert result.stdout == b""
    assert b"Traceback" not in result.stderr
    assert result.stderr.decode().startswith("vertaid: the store is unavailable: cannot open the store at")


def test_a_store_opened_by_the_command_line_is_the_one_the_app_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without VERTAID_DATABASE_URL the CLI and open_store() both use ./var/vertaid.db where they run."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VERTAID_DATABASE_URL", raising=False)

    result = CliRunner().invoke(app, ["keys", "create", "demo"])

    assert result.exit_code == 0
    store = open_store()
    try:
        assert authenticate(store, result.stdout.strip()) == "demo"
    finally:
        store.dispose()
