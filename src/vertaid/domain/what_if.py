"""What would change the decision: every unknown input that matters, tried at each value it could take.

For a yes/no finding the values are yes and no; for a choice, each option; for a number, one value in
each region that the pack's thresholds for it mark out (e.g. height loss ≤ 25, 25–30, > 30), merged
where neighbouring regions lead to the same result. Only the rules that read the input are evaluated
again, and the decision is re-derived from the rules' truth values, which keeps this cheap enough to run
on every assessment.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vertaid.domain.conditions import FactSpec, Truth
from vertaid.domain.engine import Decision, build_fracture_facts, decide, decision_rules
from vertaid.domain.facts import FACTS, CaseFacts, Overlay, fracture_input, input_paths_of_fact
from vertaid.domain.pack import KnowledgePack, Rule

__all__ = ["Outcome", "WhatIf", "what_would_change"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of the case with one unknown input set to ``when``."""

    when: str
    value: Any
    decision: str
    strength: str | None
    score: int | None
    coverage_met: bool


@dataclass(frozen=True, slots=True)
class WhatIf:
    """An unknown input whose value would change the decision, the score or Medicare coverage."""

    field: str
    input: str
    changes: tuple[str, ...]
    outcomes: tuple[Outcome, ...]


@dataclass(frozen=True)
class _Input:
    name: str
    spec: FactSpec
    rules: tuple[Rule, ...]
    """Every rule that reads the input, directly or through a derived fact (acuity, targets)."""
    direct_rules: tuple[Rule, ...]
    """The rules that read the input itself: enough when the derived facts do not change."""
    candidates: tuple[_Candidate, ...]


@dataclass(frozen=True)
class _Index:
    case_inputs: tuple[_Input, ...]
    fracture_inputs: tuple[_Input, ...]


_INDEXES: dict[str, _Index] = {}


def _index(pack: KnowledgePack) -> _Index:
    index = _INDEXES.get(pack.digest)
    if index is None:
        index = _build_index(pack)
        _INDEXES[pack.digest] = index
    return index


def _build_index(pack: KnowledgePack) -> _Index:
    rules = decision_rules(pack) + pack.coverage
    readers: dict[str, list[Rule]] = {}
    direct: dict[str, list[Rule]] = {}
    thresholds: dict[str, set[float]] = {}
    for rule in rules:
        inputs = {name for fact in rule.condition.facts_read for name in input_paths_of_fact(fact)}
        for name in inputs:
            readers.setdefault(name, []).append(rule)
            if name in rule.condition.facts_read:
                direct.setdefault(name, []).append(rule)
        for fact, values in rule.condition.thresholds.items():
            for name in input_paths_of_fact(fact):
                thresholds.setdefault(name, set()).update(values)
    case_inputs: list[_Input] = []
    fracture_inputs: list[_Input] = []
    for name in sorted(readers):
        spec = FACTS.get(name)
        if spec is None or spec.kind == "list":
            continue  # lists (priorities) default to empty: they are never unknown
        entry = _Input(
            name,
            spec,
            tuple(readers[name]),
            tuple(direct.get(name, ())),
            _candidates(spec, thresholds.get(name, set())),
        )
        (fracture_inputs if fracture_input(name) else case_inputs).append(entry)
    return _Index(tuple(case_inputs), tuple(fracture_inputs))


@dataclass(frozen=True, slots=True)
class _Region:
    """A stretch of a numeric input's range; ``low``/``high`` are the whole range, for labels."""

    lo: float
    lo_inclusive: bool
    hi: float
    hi_inclusive: bool
    low: float
    high: float

    def joined(self, other: _Region) -> _Region:
        return dataclasses.replace(self, hi=other.hi, hi_inclusive=other.hi_inclusive)

    def label(self) -> str:
        if self.lo == self.hi:
            return f"= {_fmt(self.lo)}"
        from_start = self.lo == self.low and self.lo_inclusive
        to_end = self.hi == self.high and self.hi_inclusive
        above = f"{'≥' if self.lo_inclusive else '>'} {_fmt(self.lo)}"
        below = f"{'≤' if self.hi_inclusive else '<'} {_fmt(self.hi)}"
        if from_start and to_end:
            return "any value"
        if from_start:
            return below
        if to_end:
            return above
        return f"{above} and {below}"


_Candidate = tuple[Any, "_Region | str"]


def _candidates(spec: FactSpec, thresholds: set[float]) -> tuple[_Candidate, ...]:
    if spec.kind == "bool":
        return ((True, "yes"), (False, "no"))
    if spec.kind == "choice":
        return tuple((value, str(value)) for value in spec.values)
    return _numeric_regions(spec, sorted(thresholds))


def _numeric_regions(spec: FactSpec, thresholds: list[float]) -> tuple[_Candidate, ...]:
    """One representative value per region between and at the thresholds."""
    low = spec.minimum if spec.minimum is not None else min(thresholds, default=0.0) - 1
    high = spec.maximum if spec.maximum is not None else max(thresholds, default=0.0) + 1
    regions: list[_Candidate] = []
    start, start_inclusive = low, True
    for point in (t for t in thresholds if low <= t <= high):
        inside = _inside(start, start_inclusive, point, False, spec.integer)
        if inside is not None:
            regions.append((inside, _Region(start, start_inclusive, point, False, low, high)))
        regions.append((_value(point, spec), _Region(point, True, point, True, low, high)))
        start, start_inclusive = point, False
    inside = _inside(start, start_inclusive, high, True, spec.integer)
    if inside is not None:
        regions.append((inside, _Region(start, start_inclusive, high, True, low, high)))
    return tuple(regions)


def _inside(lo: float, lo_inclusive: bool, hi: float, hi_inclusive: bool, integer: bool) -> Any:
    """Return a value inside the interval, or None when it is empty."""
    if integer:
        first = math.ceil(lo) if lo_inclusive else math.floor(lo) + 1
        last = math.floor(hi) if hi_inclusive else math.ceil(hi) - 1
        return first if first <= last else None
    if hi < lo or (hi == lo and not (lo_inclusive and hi_inclusive)):
        return None
    return (lo + hi) / 2


def _value(point: float, spec: FactSpec) -> Any:
    return int(point) if spec.integer else point


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def what_would_change(
    facts: CaseFacts,
    truths: Mapping[str, Truth],
    baseline: Decision,
    coverage_met: bool,
    pack: KnowledgePack,
) -> list[WhatIf]:
    """Return every unknown input of the case that would change the decision, score or coverage."""
    index = _index(pack)
    results: list[WhatIf] = []
    for entry in index.case_inputs:
        if entry.spec.getter(facts) is not None:
            continue
        section, member = entry.name.split(".", 1)

        def variant(
            value: Any, section: str = section, member: str = member, rules: tuple[Rule, ...] = entry.rules
        ) -> tuple[CaseFacts, tuple[Rule, ...]]:
            return facts.replaced(section, Overlay(getattr(facts, section), member, value)), rules

        found = _try(entry, entry.name, variant, truths, baseline, coverage_met, pack)
        if found is not None:
            results.append(found)
    for fracture in facts.fractures:
        for entry in index.fracture_inputs:
            current = (
                fracture.height_loss_percent
                if entry.name == "height_loss_percent"
                else getattr(fracture.fracture, entry.name)
            )
            if current is not None:
                continue

            def fracture_variant(
                value: Any, entry: _Input = entry, position: int = fracture.index
            ) -> tuple[CaseFacts, tuple[Rule, ...]]:
                return _with_fracture_member(facts, position, entry, value, pack)

            path = f"fractures[{fracture.index}].{entry.name}"
            found = _try(entry, path, fracture_variant, truths, baseline, coverage_met, pack)
            if found is not None:
                results.append(found)
    return results


def _with_fracture_member(
    facts: CaseFacts, position: int, entry: _Input, value: Any, pack: KnowledgePack
) -> tuple[CaseFacts, tuple[Rule, ...]]:
    views = list(facts.fractures)
    before = views[position]
    changed: Any = Overlay(before.fracture, entry.name, value)
    after = build_fracture_facts(position, changed, pack)
    views[position] = after
    # When the derived facts stay the same, only the rules reading the input itself can change.
    derived_same = after.acuity == before.acuity and after.height_loss_percent == before.height_loss_percent
    return facts.replaced(fractures=tuple(views)), entry.direct_rules if derived_same else entry.rules


def _try(
    entry: _Input,
    path: str,
    variant: Any,
    truths: Mapping[str, Truth],
    baseline: Decision,
    coverage_met: bool,
    pack: KnowledgePack,
) -> WhatIf | None:
    outcomes: list[Outcome] = []
    changes: set[str] = set()
    coverage_ids = [rule.id for rule in pack.coverage]
    regions: list[_Region | str] = []
    for value, where in entry.candidates:
        facts, rules = variant(value)
        trial = dict(truths)
        for rule in rules:
            trial[rule.id] = rule.condition.evaluate(facts, None)
        result = decide(trial, pack)
        met = all(trial[rule_id] is True for rule_id in coverage_ids)
        if result.decision != baseline.decision:
            changes.add("decision")
        if result.score != baseline.score:
            changes.add("score")
        if met != coverage_met:
            changes.add("coverage")
        outcome = Outcome("", value, result.decision, result.strength, result.score, met)
        previous = regions[-1] if regions else None
        if (
            isinstance(where, _Region)
            and isinstance(previous, _Region)
            and _same_result(outcomes[-1], outcome)
        ):
            regions[-1] = previous.joined(where)
        else:
            outcomes.append(outcome)
            regions.append(where)
    if not changes:
        return None
    labelled = tuple(
        dataclasses.replace(outcome, when=where.label() if isinstance(where, _Region) else where)
        for outcome, where in zip(outcomes, regions, strict=True)
    )
    order = ("decision", "score", "coverage")
    return WhatIf(path, entry.name, tuple(c for c in order if c in changes), labelled)


def _same_result(first: Outcome, second: Outcome) -> bool:
    return (first.decision, first.strength, first.score, first.coverage_met) == (
        second.decision,
        second.strength,
        second.score,
        second.coverage_met,
    )
