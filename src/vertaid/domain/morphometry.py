"""Vertebral morphometry: height loss, Genant grade and deformity type (policy §5).

Six-point morphometry gives the anterior (Ha), middle (Hm) and posterior (Hp) heights. The expected
height is the larger of Hp and the posterior height of the nearest normal vertebra (ACR RDES230), and
the height loss is the shortfall of the smallest of the three. The Genant semi-quantitative grade and
the deformity type follow from them; their bounds and tie order come from the knowledge pack.
"""

from __future__ import annotations

from vertaid.domain.case import Morphometry
from vertaid.domain.pack import MorphometryPolicy

__all__ = ["deformity_type", "genant_grade", "height_loss_from_morphometry"]


def height_loss_from_morphometry(heights: Morphometry, policy: MorphometryPolicy) -> float:
    """Return the height loss in percent, rounded as the pack says results are shown and compared."""
    expected = max(heights.posterior, heights.reference_posterior)
    smallest = min(heights.anterior, heights.middle, heights.posterior)
    loss = 100 * (1 - smallest / expected)
    return round(max(loss, 0.0), policy.decimals)


def genant_grade(height_loss_percent: float | None, policy: MorphometryPolicy) -> int | None:
    """Return the Genant grade 0-3 for a height loss, or None when the height loss is unknown."""
    if height_loss_percent is None:
        return None
    grade = 0
    for bound in policy.genant_lower_bounds:
        if height_loss_percent >= bound:
            grade += 1
    return grade


def deformity_type(heights: Morphometry | None, policy: MorphometryPolicy) -> str | None:
    """Return ``wedge``, ``biconcave`` or ``crush`` by the smallest height; ties go by the pack's order."""
    if heights is None:
        return None
    by_type = {"wedge": heights.anterior, "biconcave": heights.middle, "crush": heights.posterior}
    smallest = min(by_type.values())
    for kind in policy.type_tie_order:
        if by_type[kind] == smallest:
            return kind
    return None  # pragma: no cover - the pack's tie order names every type
