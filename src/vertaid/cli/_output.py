"""Writing an output file atomically: to a temporary file beside the target, then renamed over it.

A reader never sees half a report, and a failed write leaves nothing behind: either the whole new file
is there, or whatever was there before is untouched. Problems are one-line reasons, never a crash.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

from vertaid.services._replacing import replacing

__all__ = ["UnwritableOutput", "check_writable", "write_atomically", "write_chunks_atomically"]


class UnwritableOutput(OSError):
    """The output cannot be written; the message is one line naming the reason."""


def _reason(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such directory"
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, IsADirectoryError):
        return "is a directory"
    return error.strerror or str(error)


def check_writable(target: str) -> None:
    """Refuse at once an output that cannot be written (before the report is rendered).

    Raises:
        UnwritableOutput: the path is a directory, or its directory is missing or not writable.
    """
    if target == "-":
        return
    path = Path(target)
    if path.is_dir():
        raise UnwritableOutput("is a directory")
    directory = path.parent
    if not directory.is_dir():
        raise UnwritableOutput("no such directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UnwritableOutput("permission denied")


def write_atomically(target: str, content: bytes) -> None:
    """Write ``content`` to ``target`` (``-`` is standard output) so that no partial file is ever left.

    Raises:
        UnwritableOutput: with a one-line reason.
    """
    write_chunks_atomically(target, (content,))


def write_chunks_atomically(target: str, chunks: Iterable[bytes], mode: int = 0o666) -> None:
    """Write ``chunks`` one after another to ``target`` (``-`` is standard output), as one file that
    appears whole or not at all; memory holds one chunk at a time. ``mode``: the file's permissions.

    Raises:
        UnwritableOutput: with a one-line reason.
    """
    if target == "-":
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    try:
        with replacing(Path(target), mode) as partial, partial.open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise UnwritableOutput(_reason(error)) from None
