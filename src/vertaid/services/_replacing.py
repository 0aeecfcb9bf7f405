"""Writing a file so that it appears whole or not at all: the one mechanism every output uses.

The content goes to a new file beside the target, which is renamed over the target when writing ends
without error and removed otherwise: a reader never sees half a file, and a failed run leaves whatever
was there before untouched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["replacing"]


@contextlib.contextmanager
def replacing(target: Path, mode: int = 0o666) -> Iterator[Path]:
    """Yield a new, empty file beside ``target`` to write; rename it onto ``target`` when the block
    ends without error, remove it otherwise. ``mode`` is the new file's permissions (less the umask).

    Raises:
        OSError: the file cannot be made beside ``target`` (its folder is missing or not writable).
    """
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
    try:
        yield partial
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
