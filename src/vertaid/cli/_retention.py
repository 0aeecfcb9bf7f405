"""``vertaid export`` and ``vertaid purge``: data retention over the store ``VERTAID_DATABASE_URL`` names.

A DATE is a day (``2025-01-01``: its first moment, UTC) or a moment with its offset
(``2025-01-01T08:00:00+01:00``, ``…Z``); a moment without an offset is refused rather than guessed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Final

import typer

from vertaid.cli._store import EXIT_UNUSABLE, _fail, _opened_store

EXIT_NOT_CONFIRMED: Final = 1
"""``vertaid purge`` was not confirmed: nothing was deleted."""

__all__ = ["export", "parse_bound", "purge"]


def parse_bound(text: str, option: str) -> datetime:
    """The moment a DATE option names (see the module's text).

    Raises:
        ValueError: naming the option and what is wrong.
    """
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{option}: {text!r} is not a date (2025-01-01) or a time with its offset "
            "(2025-01-01T08:00:00+01:00)"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"{option}: {text!r} has no offset: add Z (UTC) or one such as +01:00")
    return moment.astimezone(UTC)


def _bounds(after: str | None, before: str | None, command: str) -> tuple[datetime | None, datetime | None]:
    try:
        start = None if after is None else parse_bound(after, "--after")
        end = None if before is None else parse_bound(before, "--before")
    except ValueError as error:
        _fail(f"vertaid {command}: {error}", EXIT_UNUSABLE)
    if start is not None and end is not None and start >= end:
        _fail(f"vertaid {command}: --after must come before --before", EXIT_UNUSABLE)
    return start, end


def export(
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Where to write the lines (- for standard output)."
        ),
    ],
    before: Annotated[
        str | None, typer.Option(metavar="DATE", help="Only assessments made before this day or time.")
    ] = None,
    after: Annotated[
        str | None, typer.Option(metavar="DATE", help="Only assessments made on or after this day or time.")
    ] = None,
) -> None:
    """Export the stored assessments as JSON Lines: each with its case, id, time, key name and knowledge
    digest, oldest first. The file appears whole or not at all, readable by its owner only."""
    from vertaid.cli._output import UnwritableOutput, check_writable, write_chunks_atomically
    from vertaid.services.retention import export_lines

    start, end = _bounds(after, before, "export")
    exported = 0

    def counted(lines: Iterator[bytes]) -> Iterator[bytes]:
        nonlocal exported
        for line in lines:
            exported += 1
            yield line

    try:
        check_writable(output)
        with _opened_store() as store:
            lines = counted(export_lines(store, after=start, before=end))
            write_chunks_atomically(output, lines, mode=0o600)  # health data: for its owner's eyes only
    except UnwritableOutput as error:
        _fail(f"vertaid export: cannot write {output}: {error}", EXIT_UNUSABLE)
    where = "standard output" if output == "-" else output
    sys.stderr.write(f"vertaid: {exported} stored assessments exported to {where}\n")


def purge(
    before: Annotated[
        str, typer.Option(metavar="DATE", help="Delete the stored assessments made before this day or time.")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    by: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Who purges, for the audit trail (by default the login name)."),
    ] = None,
) -> None:
    """Delete the stored assessments made before DATE, in one transaction, and record the purge in the
    audit trail (their audit records stay: they name the case and assessment only by hash). Asks for
    confirmation unless --yes; prints how many were deleted."""
    import getpass

    from vertaid.services.retention import check_purge_bound, purge_assessments

    bound = _bounds(None, before, "purge")[1]
    assert bound is not None
    try:
        check_purge_bound(bound, datetime.now(UTC))
        who = by if by is not None else getpass.getuser()
    except (ValueError, OSError) as error:  # getuser: no login name known
        _fail(f"vertaid purge: {error}", EXIT_UNUSABLE)
    shown = bound.isoformat()
    with _opened_store() as store:
        count = store.count_assessments_made(before=bound)
        if count == 0:
            sys.stdout.write(f"No stored assessment was made before {shown}: nothing to purge.\n")
            return
        if not yes:
            question = (
                f"Delete the {count} stored assessments made before {shown}? Their audit records stay, "
                "and the purge is recorded"
            )
            try:
                confirmed = typer.confirm(question, default=False, err=True)
            except typer.Abort:  # no answer (standard input closed)
                confirmed = False
            if not confirmed:
                _fail("vertaid purge: not confirmed; nothing was deleted", EXIT_NOT_CONFIRMED)
        try:
            record = purge_assessments(store, before=bound, by=who)
        except ValueError as error:
            _fail(f"vertaid purge: {error}", EXIT_UNUSABLE)
    if record is None:
        sys.stdout.write(f"No stored assessment was made before {shown}: nothing to purge.\n")
        return
    sys.stdout.write(
        f"Purged {record.purged_count} stored assessments made before {shown} "
        f"(audit record {record.sequence}, by {record.purged_by}).\n"
    )
