"""The ``vertaid`` command-line program."""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Run the command line."""
    from vertaid.cli._app import app

    app()
