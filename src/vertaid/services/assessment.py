"""The assessment use case: a raw case in, ``vertaid.assessment/1`` out.

Every door (the CLI, the Python API, later the web app and the CDS Hooks service) assesses through
here, so they all validate the same way and read the same knowledge pack.
"""

from __future__ import annotations

from typing import Any

from vertaid.domain.assessment import assess_case
from vertaid.domain.case import parse_case
from vertaid.domain.pack import KnowledgePack
from vertaid.knowledge import default_pack

__all__ = ["assess"]


def assess(case: object, pack: KnowledgePack | None = None) -> dict[str, Any]:
    """Assess a case given as JSON-like data.

    Args:
        case: a ``vertaid.case/1`` object (a dict, as parsed from JSON).
        pack: the knowledge pack to use; the pack that ships with vertaid by default.

    Returns:
        The ``vertaid.assessment/1`` document as a JSON-ready dict.

    Raises:
        InvalidCase: with every problem in the case, each naming its JSON path.
    """
    return assess_case(parse_case(case), pack if pack is not None else default_pack())
