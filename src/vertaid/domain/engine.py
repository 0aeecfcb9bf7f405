"""The policy engine: from a case and a knowledge pack to a decision (policy §1–§3).

1. Each fracture gets its acuity and height loss; the unhealed ones are the target levels.
2. Every rule of the pack is evaluated (three-valued); all that fire are reported.
3. The steps are taken in order and the first step with a rule that fires decides; when none does, the
   factor score chooses kyphoplasty, vertebroplasty or either.

The decision is a function of the rules' truth values alone (:func:`decide`), so the engine can ask
cheaply what another value of an unknown fact would do (:mod:`vertaid.domain.what_if`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from vertaid.domain.case import Case, Fracture
from vertaid.domain.conditions import Truth, batch_evaluator
from vertaid.domain.facts import CaseFacts, FractureFacts
from vertaid.domain.morphometry import height_loss_from_morphometry
from vertaid.domain.pack import KnowledgePack, Rule

__all__ = [
    "AUGMENTATION",
    "Decision",
    "RuleList",
    "build_facts",
    "build_fracture_facts",
    "decide",
    "decision_by_score",
    "decision_rules",
    "derive_fracture_facts",
    "evaluate_rules",
    "factor_score",
    "fired_rules",
    "redecide",
    "report_rules",
    "rules_in_order",
    "step_decisions",
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
    view = FractureFacts(index, fracture, "unknown", None)
    derive_fracture_facts(view, pack)
    return view


def derive_fracture_facts(view: FractureFacts, pack: KnowledgePack, acuity: str | None = None) -> None:
    """Work out, in place, what the policy derives from a fracture view's findings.

    ``acuity`` may be given when it is already known to be unchanged (what-if trials of other inputs).
    """
    fracture = view.fracture
    height = fracture.height_loss_percent
    if height is None and fracture.morphometry_mm is not None:
        height = height_loss_from_morphometry(fracture.morphometry_mm, pack.morphometry)
    view.height_loss_percent = height
    if acuity is None:
        view.acuity, view.is_target = "unknown", False  # the classification never sees a class of before
        classified = pack.acuity.classify(None, view)
        acuity = "unknown" if classified is None else str(classified)
    view.acuity = acuity
    view.is_target = acuity == "unhealed"


def build_facts(case: Case, pack: KnowledgePack) -> CaseFacts:
    """Return the case as the policy sees it."""
    return CaseFacts(
        case, tuple(build_fracture_facts(i, fracture, pack) for i, fracture in enumerate(case.fractures))
    )


def decision_rules(pack: KnowledgePack) -> tuple[Rule, ...]:
    """Return every rule whose truth can bear on the decision, in evaluation order."""
    return pack.derived("decision rules", _decision_rules)


def _decision_rules(pack: KnowledgePack) -> tuple[Rule, ...]:
    ordered = list(pack.definitions)
    for step in pack.steps:
        ordered.extend(step.rules)
    ordered.extend(pack.choice.factors)
    return tuple(ordered)


def report_rules(pack: KnowledgePack) -> tuple[Rule, ...]:
    """Return the rules that report without deciding: the report rules, then the cautions."""
    return pack.derived("report rules", lambda pack: pack.reports + pack.cautions)


RuleList = Literal["decision", "coverage", "report"]
"""The pack's lists of rules: those that decide, the Medicare coverage items, and those that report."""

_RULE_LISTS: Final[Mapping[str, Callable[[KnowledgePack], tuple[Rule, ...]]]] = {
    "decision": decision_rules,
    "coverage": lambda pack: pack.coverage,
    "report": report_rules,
}


def evaluate_rules(
    facts: CaseFacts, pack: KnowledgePack, rule_list: RuleList, truths: dict[str, Truth]
) -> dict[str, Truth]:
    """Evaluate one of the pack's rule lists into ``truths`` (rule id to True, False or None); return it.

    Each list is compiled once into one function (see :func:`batch_evaluator`).
    """
    evaluate_all = pack.derived(
        f"{rule_list} rules, compiled",
        lambda pack: batch_evaluator([(rule.id, rule.condition) for rule in _RULE_LISTS[rule_list](pack)]),
    )
    evaluate_all(facts, truths)
    return truths


def rules_in_order(pack: KnowledgePack) -> tuple[Rule, ...]:
    """Return every rule of the pack in the order the engine evaluates and reports them: those that
    decide, the coverage items, then those that report."""
    return pack.derived(
        "rules in order", lambda pack: tuple(rule for rules in _RULE_LISTS.values() for rule in rules(pack))
    )


def fired_rules(case: Case, pack: KnowledgePack) -> list[str]:
    """Return the ids of every rule that holds for ``case``, in :func:`rules_in_order`."""
    facts = build_facts(case, pack)
    truths: dict[str, Truth] = {}
    facts.rule_truths = truths
    for rule_list in _RULE_LISTS:
        evaluate_rules(facts, pack, rule_list, truths)  # type: ignore[arg-type]
    return [rule_id for rule_id, truth in truths.items() if truth is True]


def decide(truths: Mapping[str, Truth], pack: KnowledgePack) -> Decision:
    """Return the decision that the rules' truth values give (policy §2–§3)."""
    table = _decisions(pack)
    for position, rule_ids in enumerate(table.step_rules):
        for rule_id in rule_ids:
            if truths[rule_id] is True:
                return table.by_step[position]
    return decision_by_score(factor_score(truths, pack), pack)


def factor_score(truths: Mapping[str, Truth], pack: KnowledgePack) -> int:
    """Return the sum of the weights of the choice factors that hold."""
    return sum(factor.weight or 0 for factor in pack.choice.factors if truths[factor.id] is True)


def redecide(
    truths: Mapping[str, Truth], changed: Mapping[str, Truth], baseline: Decision, pack: KnowledgePack
) -> Decision:
    """Return :func:`decide` of ``truths`` updated by ``changed``, looking mostly at what changed.

    ``baseline`` is the decision for ``truths``. A step before the deciding one can only come to fire
    through a changed rule; the deciding step still fires unless its firing rules changed; the score
    moves by the weights of the factors that changed.
    """
    table = _decisions(pack)
    step_of = table.step_of
    deciding = table.position.get(baseline.step or "", table.choice)
    earliest = deciding
    for rule_id, truth in changed.items():
        if truth is True and step_of.get(rule_id, deciding) < earliest:
            earliest = step_of[rule_id]
    if earliest < deciding:
        return table.by_step[earliest]
    for position in range(deciding, table.choice):
        for rule_id in table.step_rules[position]:
            if changed.get(rule_id, truths[rule_id]) is True:
                return table.by_step[position]
    if baseline.score is None:
        return decision_by_score(factor_score({**truths, **changed}, pack), pack)
    score = baseline.score
    weights = table.weights
    for rule_id, truth in changed.items():
        if rule_id in weights and (truth is True) != (truths[rule_id] is True):
            score += weights[rule_id] if truth is True else -weights[rule_id]
    return table.by_score.get(score) or decision_by_score(score, pack)


@dataclass(frozen=True)
class _Decisions:
    """The decision table of one pack, made once: each step's decision and rules, and the choice's
    decisions by score (filled in as scores occur)."""

    by_step: tuple[Decision, ...]
    step_rules: tuple[tuple[str, ...], ...]
    """The ids of each step's rules, in step order."""
    step_of: Mapping[str, int]
    """The position of the step each step rule belongs to."""
    position: Mapping[str, int]
    """The position of each step, by step id."""
    choice: int
    """The position of the factor score: after the last step."""
    weights: Mapping[str, int]
    """The weight of each choice factor, by rule id."""
    by_score: dict[int, Decision]


def _decisions(pack: KnowledgePack) -> _Decisions:
    return pack.derived("decisions", _decision_table)


def _decision_table(pack: KnowledgePack) -> _Decisions:
    return _Decisions(
        tuple(Decision(step.decision, step.id, None, None) for step in pack.steps),
        tuple(tuple(rule.id for rule in step.rules) for step in pack.steps),
        pack.step_of_rule,
        pack.step_position,
        len(pack.steps),
        pack.factor_weights,
        {},
    )


def step_decisions(pack: KnowledgePack) -> tuple[Decision, ...]:
    """Return the decision each step makes when one of its rules fires, in step order."""
    return _decisions(pack).by_step


def decision_by_score(score: int, pack: KnowledgePack) -> Decision:
    """Return the decision step 5 makes for a factor score: the procedure and the strength."""
    known = _decisions(pack).by_score.get(score)
    if known is not None:
        return known
    choice = pack.choice
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
    made = Decision(decision, "choice", score, strength)
    _decisions(pack).by_score[score] = made
    return made
