"""The AO Spine–DGOU osteoporotic fracture (OF) class and the modified OF score (policy §5).

The class is an ordered classification kept in the pack (tension band failure → OF 5, both endplates
→ OF 4, ...). The score adds points for the class, bone quality, progression, pain, neurology and
mobilisation and deducts for poor health, each from the pack; an unknown parameter scores 0, as the
AO Spine pocket card says. The card notes the score is not yet validated: it is reported, never used
to decide.
"""

from __future__ import annotations

from vertaid.domain.case import Pain, Patient
from vertaid.domain.facts import FractureFacts
from vertaid.domain.pack import AoSpinePolicy

__all__ = ["of_class", "of_score", "of_score_reading"]


def of_class(fracture: FractureFacts, policy: AoSpinePolicy) -> int | None:
    """Return the OF class 1-5 of a fracture, or None when its findings do not allow one."""
    value = policy.of_class.classify(None, fracture)
    return int(value) if value is not None else None


def _signed(flag: bool | None, points: int) -> int:
    if flag is None:
        return 0
    return points if flag else -points


def of_score(
    fracture: FractureFacts, of_class_value: int | None, patient: Patient, pain: Pain, policy: AoSpinePolicy
) -> int | None:
    """Return the modified OF score of one fracture, or None when its OF class is unknown."""
    if of_class_value is None:
        return None
    score = policy.class_multiplier * of_class_value
    if patient.t_score is not None and patient.t_score < policy.severe_osteoporosis_below_t_score:
        score += policy.severe_osteoporosis_points
    score += _signed(fracture.fracture.height_loss_progressing, policy.progression_points)
    score += policy.pain_points if pain.nrs >= policy.pain_min_nrs else -policy.pain_points
    if fracture.fracture.neurological_deficit:
        score += policy.neurological_deficit_points
    mobile = pain.can_mobilise
    score += _signed(None if mobile is None else not mobile, policy.immobile_points)
    deductions = sum(
        policy.health_deduction
        for present in (
            patient.asa_class is not None and patient.asa_class > policy.asa_above,
            patient.frailty_index is not None and patient.frailty_index > policy.frailty_above,
            patient.anticoagulated,
        )
        if present
    )
    score -= min(deductions, policy.health_deduction_cap)
    return score


def of_score_reading(score: int | None, policy: AoSpinePolicy) -> str | None:
    """Return how the card reads a score: ``conservative``, ``either`` or ``operative``."""
    if score is None:
        return None
    if score <= policy.conservative_at_most:
        return "conservative"
    if score > policy.operative_above:
        return "operative"
    return "either"
