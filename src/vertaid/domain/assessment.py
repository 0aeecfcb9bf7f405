"""The assessment, ``vertaid.assessment/1``: everything the policy says about a case, ready for JSON.

Built from the engine's rule truth values and the pack, with nothing re-decided here: findings of every
step, the Medicare LCD check, cautions, conflicts, the scores per fracture, the figures per option,
aftercare, the evidence caveat and what would change the decision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from vertaid.domain._fresh import fresh_copier
from vertaid.domain.ao_spine import of_class, of_score, of_score_reading
from vertaid.domain.case import Case
from vertaid.domain.conditions import Truth
from vertaid.domain.engine import (
    AUGMENTATION,
    Decision,
    build_facts,
    decide,
    decision_rules,
    evaluate_rules,
)
from vertaid.domain.facts import CaseFacts
from vertaid.domain.morphometry import deformity_type, genant_grade, height_loss_from_morphometry
from vertaid.domain.pack import Conflict, KnowledgePack, Outcome, Rule, Wording
from vertaid.domain.what_if import WhatIf, what_would_change

__all__ = ["ASSESSMENT_SCHEMA_ID", "assess_case", "conflict_entry", "fixed_sections"]

ASSESSMENT_SCHEMA_ID: Final = "vertaid.assessment/1"


def assess_case(case: Case, pack: KnowledgePack) -> dict[str, Any]:
    """Assess a validated case with a knowledge pack and return ``vertaid.assessment/1`` as a dict."""
    facts = build_facts(case, pack)
    truths: dict[str, Truth] = {}
    facts.rule_truths = truths  # definitions are evaluated first; the rules that use them read them here
    evaluate_rules(facts, pack, "decision", truths)
    evaluate_rules(facts, pack, "coverage", truths)
    decision = decide(truths, pack)
    coverage_met = all(truths[rule.id] is True for rule in pack.coverage)
    fired = {rule_id for rule_id, truth in truths.items() if truth is True}
    findings = _findings(facts, truths, decision, pack)
    report_truths = evaluate_rules(facts, pack, "report", {})
    findings.extend(_finding(rule, facts) for rule in pack.reports if report_truths[rule.id] is True)
    fired.update(rule_id for rule_id, truth in report_truths.items() if truth is True)
    fractures, case_of_score = _fractures(facts, pack, findings)
    what_if = what_would_change(facts, truths, decision, coverage_met, pack)
    assessment: dict[str, Any] = {
        "schema": ASSESSMENT_SCHEMA_ID,
        "case_id": case.id,
        "decision": decision.decision,
        "strength": decision.strength,
        "score": decision.score,
        "summary": _summary(decision, facts, truths, pack),
        "target_levels": [fracture.level for fracture in facts.targets],
        "findings": findings,
        "missing": [_missing(entry, pack) for entry in what_if],
        "conflicts": _conflicts(fired, decision, pack),
        "fractures": fractures,
        "ao_of_score": case_of_score,
        "ao_of_score_reading": of_score_reading(case_of_score, pack.ao_spine),
        "coverage": {"medicare_lcd": _coverage(facts, truths, pack)},
        "cautions": [_finding(rule, facts) for rule in pack.cautions if report_truths[rule.id] is True],
    }
    assessment.update(fixed_sections(pack, decision.decision))
    reevaluate = _reevaluate(facts, truths, decision, pack)
    if reevaluate is not None:
        assessment["reevaluate"] = reevaluate
    return assessment


def _finding(rule: Rule, facts: CaseFacts) -> dict[str, Any]:
    finding: dict[str, Any] = {
        "rule": rule.id,
        "step": rule.step,
        "text": rule.text,
        "favours": rule.favours,
        "weight": rule.weight,
        "sources": list(rule.sources),
    }
    levels = rule.condition.matching_levels(facts)
    if levels:
        finding["levels"] = levels
    return finding


def _wording_finding(wording: Wording, step: str, level: str) -> dict[str, Any]:
    """A finding about one level that is not a rule of its own (acuity, a morphometry disagreement)."""
    return {
        "rule": wording.id,
        "step": step,
        "text": wording.text,
        "favours": None,
        "weight": None,
        "sources": list(wording.sources),
        "levels": [level],
    }


def _findings(
    facts: CaseFacts, truths: dict[str, Truth], decision: Decision, pack: KnowledgePack
) -> list[dict[str, Any]]:
    findings: list[dict[str, Any]] = []
    for fracture in facts.fractures:
        findings.append(_wording_finding(pack.acuity_wording[fracture.acuity], "acuity", fracture.level))
    for rule in decision_rules(pack):
        if truths[rule.id] is True:
            findings.append(_finding(rule, facts))
    return findings


def _fractures(
    facts: CaseFacts, pack: KnowledgePack, findings: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], int | None]:
    results = []
    scores = []
    for view in facts.fractures:
        fracture = view.fracture
        measured = (
            height_loss_from_morphometry(fracture.morphometry_mm, pack.morphometry)
            if fracture.morphometry_mm is not None
            else None
        )
        if (
            measured is not None
            and fracture.height_loss_percent is not None
            and abs(measured - fracture.height_loss_percent) > pack.morphometry.disagreement_points
        ):
            findings.append(_wording_finding(pack.morphometry_disagreement, "report", view.level))
        of_class_value = of_class(view, pack.ao_spine)
        score = of_score(view, of_class_value, facts.patient, facts.pain, pack.ao_spine)
        if score is not None:
            scores.append(score)
        height = view.height_loss_percent
        results.append(
            {
                "level": view.level,
                "acuity": view.acuity,
                "height_loss_percent": None if height is None else float(height),
                "height_loss_source": (
                    "stated"
                    if fracture.height_loss_percent is not None
                    else "morphometry"
                    if measured is not None
                    else None
                ),
                "measured_height_loss_percent": measured,
                "genant_grade": genant_grade(height, pack.morphometry),
                "deformity_type": deformity_type(fracture.morphometry_mm, pack.morphometry),
                "ao_of_class": of_class_value,
                "ao_of_score": score,
            }
        )
    return results, max(scores) if scores else None


def _coverage(facts: CaseFacts, truths: dict[str, Truth], pack: KnowledgePack) -> dict[str, Any]:
    items = [
        {
            "id": rule.id,
            "text": rule.text,
            "met": truths[rule.id] is True,
            "documented": truths[rule.id] is not None,
            "sources": list(rule.sources),
        }
        for rule in pack.coverage
    ]
    return {
        "met": all(item["met"] for item in items),
        "unmet": [
            item["text"] if item["documented"] else f"{item['text']} (not documented)"
            for item in items
            if not item["met"]
        ],
        "items": items,
        "sources": list(pack.coverage_sources),
    }


def _conflicts(fired: set[str], decision: Decision, pack: KnowledgePack) -> list[dict[str, Any]]:
    conflicts_by_trigger = pack.derived("conflicts by trigger", _conflicts_by_trigger)
    touched: set[int] = set(conflicts_by_trigger.get("any", ()))
    if decision.decision in AUGMENTATION:
        touched.update(conflicts_by_trigger.get("augmentation", ()))
    for rule_id in fired:
        touched.update(conflicts_by_trigger.get(rule_id, ()))
    return [conflict_entry(pack.conflicts[position]) for position in sorted(touched)]


def conflict_entry(conflict: Conflict) -> dict[str, Any]:
    """How an assessment lists one of the pack's conflicts of evidence (the same for every case)."""
    return {
        "id": conflict.id,
        "topic": conflict.topic,
        "sources": list(conflict.sources),
        "positions": conflict.positions,
        "resolution": conflict.resolution,
    }


def _conflicts_by_trigger(pack: KnowledgePack) -> dict[str, tuple[int, ...]]:
    """For each rule id (or ``any``, ``augmentation``), the positions of the conflicts it brings in."""
    positions: dict[str, list[int]] = {}
    for position, conflict in enumerate(pack.conflicts):
        for trigger in conflict.touched_when_fired:
            positions.setdefault(trigger, []).append(position)
    return {trigger: tuple(found) for trigger, found in positions.items()}


_OPTIONS: Final = ("kyphoplasty", "vertebroplasty", "conservative_care")


def fixed_sections(pack: KnowledgePack, decision: str) -> dict[str, Any]:
    """The members of every assessment with ``decision`` that no other fact of the case changes, as a
    fresh copy: the figures per option, the aftercare, the evidence caveat, the unverified claims and the
    pack's identity (two thirds of an assessment's JSON)."""
    return pack.derived("fixed sections", _fixed_sections)[decision]()


def _fixed_sections(pack: KnowledgePack) -> dict[str, Callable[[], dict[str, Any]]]:
    """For each decision, what the assessment says that no other fact of the case changes.

    The figures per option, the aftercare, the evidence caveat, the unverified claims and the pack's
    identity are built once per pack; each assessment gets its own copy (a caller may edit it).
    """
    outcomes = {
        option: {outcome.id: _outcome_entry(outcome, option) for outcome in pack.outcomes}
        for option in _OPTIONS
    }
    fixed = {}
    for decision in pack.decisions:
        aftercare = [item for item in pack.aftercare if decision in item.applies_to]
        section = {
            "outcomes": outcomes,
            "aftercare": [item.text for item in aftercare],
            "aftercare_plan": [
                {"id": item.id, "text": item.text, "plain": item.plain, "sources": item.sources}
                for item in aftercare
            ],
            "evidence_caveat": {
                "text": pack.evidence_caveat.text,
                "plain": pack.evidence_caveat.plain,
                "sources": pack.evidence_caveat.sources,
            },
            "unverified_claims": [
                {"id": claim.id, "claim": claim.claim, "source": claim.source, "why": claim.why}
                for claim in pack.unverified_claims
            ],
            "knowledge": {
                "id": pack.id,
                "version": pack.version,
                "effective_date": pack.effective_date,
                "digest": pack.digest,
            },
        }
        fixed[decision] = fresh_copier(section)
    return fixed


def _outcome_entry(outcome: Outcome, option: str) -> dict[str, Any]:
    figure = outcome.per_option.get(option)
    entry: dict[str, Any] = {
        "label": outcome.label,
        "plain_label": outcome.plain_label,
        "time_frame": outcome.time_frame,
        "unit": outcome.unit,
        "denominator": outcome.denominator,
        "figure": None if figure is None else dict(figure),
        "sources": outcome.sources,
    }
    if outcome.note:
        entry["note"] = outcome.note
    return entry


def _missing(entry: WhatIf, pack: KnowledgePack) -> dict[str, Any]:
    return {
        "field": entry.field,
        "why": pack.facts_why.get(entry.input, "The policy reads this fact."),
        "changes": list(entry.changes),
        "outcomes": [
            {
                "when": outcome.when,
                "decision": outcome.decision,
                "strength": outcome.strength,
                "score": outcome.score,
                "coverage_met": outcome.coverage_met,
            }
            for outcome in entry.outcomes
        ],
    }


def _levels_text(levels: list[str]) -> str:
    if not levels:
        return "the fracture"
    if len(levels) == 1:
        return levels[0]
    return ", ".join(levels[:-1]) + " and " + levels[-1]


def _summary(decision: Decision, facts: CaseFacts, truths: dict[str, Truth], pack: KnowledgePack) -> str:
    wording = pack.decisions[decision.decision]
    reason = ""
    for step in pack.steps:
        if step.id == decision.step:
            deciding = next(rule for rule in step.rules if truths[rule.id] is True)
            reason = deciding.text
    score = "" if decision.score is None else f"{decision.score:+d}" if decision.score else "0"
    return wording.summary.format(
        levels=_levels_text([fracture.level for fracture in facts.targets]),
        strength=decision.strength or "",
        score=score,
        reason=reason,
    )


def _reevaluate(
    facts: CaseFacts, truths: dict[str, Truth], decision: Decision, pack: KnowledgePack
) -> dict[str, Any] | None:
    for step in pack.steps:
        if step.id != decision.step:
            continue
        for rule in step.rules:
            if truths[rule.id] is True and rule.reevaluate_after_weeks is not None:
                target = pack.parameters[rule.reevaluate_after_weeks].value
                done = facts.conservative_care.weeks
                return {
                    "rule": rule.id,
                    "after_weeks_of_care": target,
                    "weeks_from_now": max(target - done, 0),
                }
    return None
