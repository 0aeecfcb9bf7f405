"""``vertaid keys`` and ``vertaid audit``: the store's API keys and audit trail (CONTRACT §5).

Both open the store named by ``VERTAID_DATABASE_URL`` (default ``sqlite:///./var/vertaid.db``), as
``vertaid serve`` does. The store and SQLAlchemy are imported only when one of these commands runs, so
``vertaid assess`` starts as fast as before.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Final, NoReturn

import typer

if TYPE_CHECKING:
    from vertaid.store import Store

__all__ = ["audit_app", "keys_app"]

EXIT_BROKEN_TRAIL: Final = 1
EXIT_INTERNAL_ERROR: Final = 1
EXIT_UNUSABLE: Final = 2
"""A store that does not answer, or a key name that cannot be used: one line on standard error."""

keys_app = typer.Typer(
    help="API keys for the web service's writes (only a hash of each key is stored).",
    no_args_is_help=True,
)
audit_app = typer.Typer(help="The hash-chained audit trail of stored assessments.", no_args_is_help=True)


def _fail(line: str, code: int) -> NoReturn:
    sys.stderr.write(line + "\n")
    raise typer.Exit(code)


@contextmanager
def _opened_store() -> Iterator[Store]:
    """The store, closed afterwards; exit 2 with one line when it does not answer, 1 for a bug."""
    from vertaid.store import StoreUnavailable, open_store

    store: Store | None = None
    try:
        store = open_store()
        yield store
    except StoreUnavailable as error:
        _fail(f"vertaid: the store is unavailable: {error}", EXIT_UNUSABLE)
    except (typer.Exit, ValueError):
        raise
    except Exception as error:  # a bug: one line for the user, the traceback only on request
        if os.environ.get("VERTAID_DEBUG"):
            raise
        _fail(
            f"vertaid: internal error ({type(error).__name__}); set VERTAID_DEBUG=1 for details",
            EXIT_INTERNAL_ERROR,
        )
    finally:
        if store is not None:
            store.dispose()


@keys_app.command("create")
def create(
    name: Annotated[
        str,
        typer.Argument(metavar="NAME", help="Who or what uses the key; recorded with every write it makes."),
    ],
) -> None:
    """Create an API key and print it; it is shown only this once (the store keeps only its hash)."""
    from vertaid.services.keys import create_key

    try:
        with _opened_store() as store:
            key = create_key(store, name)
    except ValueError as error:
        _fail(f"vertaid keys create: {error}", EXIT_UNUSABLE)
    sys.stdout.write(key + "\n")
    sys.stderr.write(
        f"vertaid: this is the API key named {name.strip()!r}; it is shown only once, so keep it now "
        "(send it as 'Authorization: Bearer <key>')\n"
    )


@audit_app.command("verify")
def verify() -> None:
    """Check the whole audit trail: exit 0 when it is whole (with each purge and how many assessments it
    removed), 1 naming the first broken record."""
    from vertaid.services.audit import verify_audit

    with _opened_store() as store:
        verdict = verify_audit(store)
    if not verdict.whole:
        where = "a stored assessment" if verdict.first_broken is None else f"record {verdict.first_broken}"
        _fail(f"vertaid: the audit trail is broken at {where}: {verdict.reason}", EXIT_BROKEN_TRAIL)
    head = f"; the last record's hash is {verdict.head_hash}" if verdict.head_hash else ""
    sys.stdout.write(f"The audit trail is whole: {verdict.records} records{head}.\n")
    for purge in verdict.purges:
        sys.stdout.write(
            f"Record {purge.sequence} is a purge by {purge.by} at {purge.at.isoformat()}: "
            f"{purge.count} assessments made before {purge.before.isoformat()} removed, each accounted for.\n"
        )
