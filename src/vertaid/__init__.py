"""vertaid: decision support and shared decision-making for vertebral compression fractures.

    >>> from vertaid import assess
    >>> assessment = assess(case)          # a vertaid.case/1 dict
    >>> assessment["decision"], assessment["score"]

``assess`` raises :class:`InvalidCase` when the case is not valid; its ``problems`` are
``(path, message)`` pairs such as ``("fractures[0].level", "'L9' is not a vertebral level")``.
"""

from vertaid._version import __version__
from vertaid.domain.case import InvalidCase
from vertaid.knowledge import InvalidPack, load_pack
from vertaid.services.assessment import assess

__all__ = ["InvalidCase", "InvalidPack", "__version__", "assess", "load_pack"]
