"""The policy engine: from a case and a knowledge pack to a decision (policy §1–§3).

1. Each fracture gets its acuity and height loss; the unhealed ones are the target levels.
2. Every rule of the pack is evaluated (three-valued); all that fire are reported.
3. The steps are taken in order and the first step with a rule that fires decides; when none does, the
   factor score chooses kyphoplasty, vertebroplasty or either.

The decision is a function of the rules' truth values alone (:func:`decide`), so the engine can ask
cheaply what another value of an unknown fact would do (:mod:`vertaid.domain.what_if`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vertaid.domain.case import Case, Fracture
from vertaid.domain.conditions import Truth
from vertaid.domain.facts import CaseFacts, FractureFacts
from vertaid.domain.morphometry import height_loss_from_morphometry
from vertaid.domain.pack import KnowledgePack, Rule

__all__ = [
    "AUGMENTATION",
    "Decision",
    "build_facts",
    "build_fracture_facts",
    "decide",
    "decision_rules",
    "evaluate_rules",
]

AUGMENTATION = frozenset({"kyphoplasty", "vertebroplasty", "either"})
"""The decisions that recommend cement augmentation; only these carry a score and a strength."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of the decision steps."""

    decision: str
    step: str | None
    score: int | None
    strength: str | None


def build_fracture_facts(index: int, fracture: Fracture, pack: KnowledgePack) -> FractureFacts:
    """Return one fracture as the policy sees it: its acuity and height loss."""
    height = fracture.height_loss_percent
    if height is None and fracture.morphometry_mm is not None:
        height = height_loss_from_morphometry(fracture.morphometry_mm, pack.morphometry)
    view = FractureFacts(index, fracture, "unknown", height)
    acuity = pack.acuity.classify(None, view)
    view.acuity = "unknown" if acuity is None else str(acuity)
    view.is_target = view.acuity == "unhealed"
    return view


def build_facts(case: Case, pack: KnowledgePack) -> CaseFacts:
    """Return the case as the policy sees it."""
    return CaseFacts(
        case, tuple(build_fracture_facts(i, fracture, pack) for i, fracture in enumerate(case.fractures))
    )


def decision_rules(pack: KnowledgePack) -> tuple[Rule, ...]:
    """Return every rule whose truth can bear on the decision, in evaluation order."""
    rules = list(pack.definitions)
    for step in pack.steps:
        rules.extend(step.rules)
    rules.extend(pack.choice.factors)
    return tuple(rules)


def evaluate_rules(facts: CaseFacts, rules: tuple[Rule, ...], truths: dict[str, Truth]) -> dict[str, Truth]:
    """Evaluate rules into ``truths`` (rule id to True, False or None) and return it."""
    for rule in rules:
        truths[rule.id] = rule.condition.evaluate(facts, None)
    return truths


def decide(truths: Mapping[str, Truth], pack: KnowledgePack) -> Decision:
    """Return the decision that the rules' truth values give (policy §2–§3)."""
    for step in pack.steps:
        for rule in step.rules:
            if truths[rule.id] is True:
                return Decision(step.decision, step.id, None, None)
    choice = pack.choice
    score = 0
    for factor in choice.factors:
        if truths[factor.id] is True:
            score += factor.weight or 0
    if score >= choice.kyphoplasty_min_score:
        decision = "kyphoplasty"
    elif score <= choice.vertebroplasty_max_score:
        decision = "vertebroplasty"
    else:
        decision = "either"
    magnitude = abs(score)
    if magnitude >= choice.strong_min_magnitude:
        strength = "strong"
    elif magnitude >= choice.moderate_min_magnitude:
        strength = "moderate"
    else:
        strength = "weak"
    return Decision(decision, "choice", score, strength)
