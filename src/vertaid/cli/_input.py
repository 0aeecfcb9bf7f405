"""Reading a case from a file or standard input, refusing what is not a sensible JSON document.

Too large, empty, binary, not JSON or nested too deeply: each is a one-line reason, never a crash.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vertaid.services._json_text import MAX_BYTES, MAX_DEPTH, UnreadableInput, parse_json_text

__all__ = ["MAX_BYTES", "MAX_DEPTH", "UnreadableInput", "read_json_document"]


def read_json_document(source: str) -> object:
    """Read and parse the JSON document at ``source`` (a path, or ``-`` for standard input).

    Raises:
        UnreadableInput: with a one-line reason (the caller names the source).
    """
    try:
        if source == "-":
            raw = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            path = Path(source)
            if path.is_dir():
                raise UnreadableInput("is a directory, not a file")
            with path.open("rb") as handle:
                raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise UnreadableInput("no such file") from None
    except PermissionError:
        raise UnreadableInput("permission denied") from None
    except OSError as error:
        raise UnreadableInput(f"cannot be read ({error.strerror or error})") from None
    return parse_json_text(raw)
