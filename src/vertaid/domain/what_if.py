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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

from vertaid.domain.conditions import FactSpec, Threshold, Truth
from vertaid.domain.engine import Decision, decision_rules, derive_fracture_facts, redecide
from vertaid.domain.facts import (
    ACUITY_DERIVED,
    FACTS,
    CaseFacts,
    FractureFacts,
    fracture_input,
    overlay,
    targets_of,
)
from vertaid.domain.pack import KnowledgePack, Rule

__all__ = ["Outcome", "WhatIf", "what_would_change"]


class Outcome(NamedTuple):
    """The result of the case with one unknown input set to ``when``.

    (Named tuples, not dataclasses: they are made for every value tried, and tuples are made fastest.)
    """

    when: str
    value: Any
    decision: str
    strength: str | None
    score: int | None
    coverage_met: bool


class WhatIf(NamedTuple):
    """An unknown input whose value would change the decision, the score or Medicare coverage."""

    field: str
    input: str
    changes: tuple[str, ...]
    outcomes: tuple[Outcome, ...]


_Evaluate = Callable[[Any, Any], Truth]
_Evaluator = tuple[str, _Evaluate]
"""A rule as a trial evaluates it: its id and its compiled condition."""


@dataclass(frozen=True)
class _Readers:
    """Rules that read an input, in pack order, and which of them read it monotonely: the result of
    such a rule, once true or false with the input unknown, no value of the input can change."""

    evaluators: tuple[_Evaluator, ...]
    monotone: tuple[bool, ...]
    always_open: bool
    """No rule reads the input monotonely: every one is open whatever the case."""

    def open(self, truths: Mapping[str, Truth]) -> tuple[_Evaluator, ...]:
        """The rules whose result another value of the input could change, for a case's truths."""
        if self.always_open:
            return self.evaluators
        return tuple(
            evaluator
            for evaluator, monotone in zip(self.evaluators, self.monotone, strict=True)
            if not monotone or truths[evaluator[0]] is None
        )


@dataclass(frozen=True)
class _Input:
    name: str
    spec: FactSpec
    readers: _Readers
    """Every rule that reads the input, directly or through a derived fact (acuity, targets)."""
    direct_readers: _Readers
    """The rules that read the input itself: enough when the derived facts do not change (the same
    object as ``readers`` when no rule reads the input through a derived fact)."""
    candidates: tuple[_Candidate, ...]
    first_step: int
    """The position of the earliest decision step with a rule that reads the input (the factor score
    counts as the step after the last); a decision taken at an earlier step cannot change."""
    coverage_readers: _Readers
    direct_coverage_readers: _Readers
    classifies_acuity: bool
    derives: bool
    """The input feeds a derived fact (acuity or height loss): a new value means building them again."""
    redefines: bool
    """A definition reads the input: a trial keeps the definitions' new truths for the rules using them."""
    value_classes: Mapping[Any, tuple[bool, ...]] | None = None
    """For a choice, each value's answers to every test the rules make of it: values with the same
    answers give the same truths, so one of them is tried for all."""
    targets_only: bool = False
    """A fracture input that rules read only for the target levels, and that does not make a level one:
    at a level that is not a target, no value of it can change anything."""


@dataclass(frozen=True)
class _Index:
    case_inputs: tuple[_Input, ...]
    fracture_inputs: tuple[_Input, ...]
    coverage_ids: frozenset[str]
    decisive_ids: frozenset[str]
    """The step rules and the choice factors: the rules whose truth the decision reads."""


_NEVER = 1 << 30


def _build_index(pack: KnowledgePack) -> _Index:
    rules = decision_rules(pack) + pack.coverage
    acuity_inputs = tuple(sorted(pack.acuity.facts_read))

    def inputs_of(fact: str) -> tuple[str, ...]:
        """The case members a fact is read from: acuity from what the pack classifies it by."""
        return acuity_inputs if fact in ACUITY_DERIVED else (fact,)

    coverage_ids = {rule.id for rule in pack.coverage}
    definition_ids = {rule.id for rule in pack.definitions}
    step_of = {rule.id: position for position, step in enumerate(pack.steps) for rule in step.rules}
    step_of.update((factor.id, len(pack.steps)) for factor in pack.choice.factors)
    readers: dict[str, list[Rule]] = {}
    direct: dict[str, list[Rule]] = {}
    thresholds: dict[str, set[Threshold]] = {}
    for rule in rules:
        inputs = {name for fact in rule.condition.facts_read for name in inputs_of(fact)}
        for name in inputs:
            readers.setdefault(name, []).append(rule)
            if name in rule.condition.facts_read:
                direct.setdefault(name, []).append(rule)
        for fact, values in rule.condition.thresholds.items():
            for name in inputs_of(fact):
                thresholds.setdefault(name, set()).update(values)
    case_inputs: list[_Input] = []
    fracture_inputs: list[_Input] = []
    for name in sorted(readers):
        spec = FACTS.get(name)
        if spec is None or spec.kind == "list":
            continue  # lists (priorities) default to empty: they are never unknown
        monotone = {rule.id for rule in readers[name] if _monotone(rule, name, inputs_of)}
        every, only_direct = readers[name], direct.get(name, [])
        every_coverage = [rule for rule in every if rule.id in coverage_ids]
        direct_coverage = [rule for rule in only_direct if rule.id in coverage_ids]
        all_readers, coverage_readers = _readers(every, monotone), _readers(every_coverage, monotone)
        entry = _Input(
            name,
            spec,
            all_readers,
            all_readers if only_direct == every else _readers(only_direct, monotone),
            _candidates(spec, thresholds.get(name, set())),
            min((step_of[rule.id] for rule in every if rule.id in step_of), default=_NEVER),
            coverage_readers,
            coverage_readers if direct_coverage == every_coverage else _readers(direct_coverage, monotone),
            name in acuity_inputs,
            name in acuity_inputs or name == "height_loss_percent",
            any(rule.id in definition_ids for rule in readers[name]),
            _value_classes(spec, rules, pack)
            if spec.kind == "choice" and name not in acuity_inputs
            else None,
            fracture_input(name)
            and name not in acuity_inputs
            and not any(name in rule.condition.facts_read_over_all_fractures for rule in every),
        )
        (fracture_inputs if fracture_input(name) else case_inputs).append(entry)
    return _Index(tuple(case_inputs), tuple(fracture_inputs), frozenset(coverage_ids), frozenset(step_of))


def _value_classes(
    spec: FactSpec, rules: tuple[Rule, ...], pack: KnowledgePack
) -> dict[Any, tuple[bool, ...]]:
    """Each value of a choice with its answers to every test of it in the rules (as the pack writes them)."""
    tested: list[frozenset[Any]] = []

    def operand(value: Any) -> Any:
        if isinstance(value, Mapping) and set(value) == {"param"}:
            return pack.parameters[value["param"]].value
        return value

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            if node.get("fact") == spec.name:
                for op_name in ("eq", "ne", "in", "not_in"):
                    if op_name in node:
                        given = operand(node[op_name])
                        tested.append(frozenset(given) if op_name in ("in", "not_in") else frozenset([given]))
            for member in node.values():
                walk(member)
        elif isinstance(node, list):
            for member in node:
                walk(member)

    for rule in rules:
        walk(rule.condition.source)
    return {value: tuple(value in values for values in tested) for value in spec.values}


def _readers(rules: list[Rule], monotone: set[str]) -> _Readers:
    return _Readers(
        tuple((rule.id, rule.condition.evaluate) for rule in rules),
        tuple(rule.id in monotone for rule in rules),
        not any(rule.id in monotone for rule in rules),
    )


def _monotone(rule: Rule, name: str, inputs_of: Callable[[str], tuple[str, ...]]) -> bool:
    """Whether the rule reads the input itself (not through a derived fact) and monotonely."""
    condition = rule.condition
    through_derived = any(fact != name and name in inputs_of(fact) for fact in condition.facts_read)
    return name in condition.facts_read and name not in condition.nonmonotone_facts and not through_derived


@dataclass(frozen=True)
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

    @cached_property
    def label(self) -> str:
        """How the region reads in an outcome (``≤ 30``, ``> 25 and ≤ 30``); made once per region."""
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


def _candidates(spec: FactSpec, thresholds: set[Threshold]) -> tuple[_Candidate, ...]:
    if spec.kind == "bool":
        return ((True, "yes"), (False, "no"))
    if spec.kind == "choice":
        return tuple((value, str(value)) for value in spec.values)
    sides: dict[float, set[str]] = {}
    for point, side in thresholds:
        sides.setdefault(point, set()).add(side)
    return _numeric_regions(spec, sides)


def _numeric_regions(spec: FactSpec, sides: Mapping[float, set[str]]) -> tuple[_Candidate, ...]:
    """One representative value per region that the thresholds mark out.

    A threshold that every comparison puts on the same side (``ge 5`` and ``lt 5`` both put 5 with the
    values above) joins that region; one that comparisons put on both sides is a region of its own.
    """
    low = spec.minimum if spec.minimum is not None else min(sides, default=0.0) - 1
    high = spec.maximum if spec.maximum is not None else max(sides, default=0.0) + 1
    regions: list[_Candidate] = []
    start, start_inclusive = low, True
    for point in sorted(t for t in sides if low <= t <= high):
        with_below = sides[point] == {"below"}
        inside = _inside(start, start_inclusive, point, with_below, spec.integer)
        if inside is not None:
            regions.append((inside, _Region(start, start_inclusive, point, with_below, low, high)))
        if with_below:
            start, start_inclusive = point, False
        elif sides[point] == {"above"}:
            start, start_inclusive = point, True
        else:
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
    truths: dict[str, Truth],
    baseline: Decision,
    coverage_met: bool,
    pack: KnowledgePack,
) -> list[WhatIf]:
    """Return every unknown input of the case that would change the decision, score or coverage.

    Each value is tried by setting it on ``facts`` itself, and each new truth of a definition in
    ``truths`` (which rules using it read as ``facts.rule_truths``); both are put back as they were
    before returning: cheaper than a copy of the case or the truths per value.
    """
    index = pack.derived("what-if index", _build_index)
    trial = _Trial(truths, baseline, coverage_met, pack, index)
    results: list[WhatIf] = []
    facts.rule_truths = truths  # where rules using a definition read its truth
    for entry in index.case_inputs:
        if entry.spec.getter(facts) is not None:
            continue
        open_rules = trial.open_rules(entry)
        if open_rules[0]:
            found = trial.run(entry, None, open_rules, _CaseInputSetter(facts, entry), facts)
            if found is not None:
                results.append(found)
    for fracture in facts.fractures:
        for entry in index.fracture_inputs:
            if entry.spec.getter(fracture) is not None or (entry.targets_only and not fracture.is_target):
                continue
            open_rules = trial.open_rules(entry)
            if open_rules[0]:
                setter = _FractureInputSetter(facts, fracture, entry, pack)
                found = trial.run(entry, fracture.index, open_rules, setter, facts)
                if found is not None:
                    results.append(found)
    return results


class _CaseInputSetter:
    """Sets one unknown case input (``pain.rdq``) to a value to try, and puts it back."""

    def __init__(self, facts: CaseFacts, entry: _Input) -> None:
        self.facts = facts
        self.section, self.member = entry.name.split(".", 1)
        self.original = getattr(facts, self.section)
        self.changed = overlay(self.original, self.member)

    def set(self, value: Any) -> bool:
        """Set the value; return whether the derived facts stayed the same (always, for case inputs)."""
        setattr(self.changed, self.member, value)
        setattr(self.facts, self.section, self.changed)
        return True

    def restore(self) -> None:
        setattr(self.facts, self.section, self.original)


class _FractureInputSetter:
    """Sets one unknown input of one fracture to a value to try, with what it derives, and puts it back."""

    def __init__(self, facts: CaseFacts, view: FractureFacts, entry: _Input, pack: KnowledgePack) -> None:
        self.facts, self.view, self.entry, self.pack = facts, view, entry, pack
        self.original = (view.fracture, view.acuity, view.height_loss_percent, view.is_target, facts.targets)
        self.changed = overlay(view.fracture, entry.name)

    def set(self, value: Any) -> bool:
        """Set the value; return whether the derived facts (acuity, height loss) stayed the same."""
        view, entry = self.view, self.entry
        setattr(self.changed, entry.name, value)
        view.fracture = self.changed
        if not entry.derives:
            return True
        _, acuity, height, is_target, targets = self.original
        derive_fracture_facts(view, self.pack, None if entry.classifies_acuity else acuity)
        self.facts.targets = targets if view.is_target == is_target else targets_of(self.facts.fractures)
        return view.acuity == acuity and view.height_loss_percent == height

    def restore(self) -> None:
        view = self.view
        view.fracture, view.acuity, view.height_loss_percent, view.is_target, self.facts.targets = (
            self.original
        )


_Evaluators = tuple[_Evaluator, ...]
_OpenRules = tuple[_Evaluators, _Evaluators]
"""The open rules, all and direct ones, each as its id and its compiled condition."""


class _Trial:
    """Tries the values of unknown inputs against one case's baseline."""

    def __init__(
        self,
        truths: dict[str, Truth],
        baseline: Decision,
        coverage_met: bool,
        pack: KnowledgePack,
        index: _Index,
    ) -> None:
        self.truths = truths
        self.baseline = baseline
        self.coverage_met = coverage_met
        self.as_is: _Result = (baseline.decision, baseline.strength, baseline.score, coverage_met)
        self.pack = pack
        self.coverage_ids = index.coverage_ids
        self.decisive_ids = index.decisive_ids
        self.opened: dict[str, _OpenRules] = {}
        self.deciding_step = pack.step_position.get(baseline.step or "", len(pack.steps))

    def decision_fixed(self, entry: _Input) -> bool:
        """Whether the input is read by no step at or before the one that decided: the decision stays."""
        return entry.first_step > self.deciding_step

    def open_rules(self, entry: _Input) -> _OpenRules:
        """Return the readers that another value of the input could change, all and direct ones.

        Rules past the deciding step cannot change the decision, so only coverage is left to ask about;
        a settled (true or false) result of a rule that reads the input monotonely cannot change at all.
        """
        opened = self.opened.get(entry.name)
        if opened is None:
            opened = self.opened[entry.name] = self._open_rules(entry)
        return opened

    def _open_rules(self, entry: _Input) -> _OpenRules:
        if self.decision_fixed(entry):
            every, direct = entry.coverage_readers, entry.direct_coverage_readers
        else:
            every, direct = entry.readers, entry.direct_readers
        open_every = every.open(self.truths)
        return open_every, open_every if direct is every else direct.open(self.truths)

    def run(
        self,
        entry: _Input,
        fracture_index: int | None,
        open_rules: _OpenRules,
        setter: _CaseInputSetter | _FractureInputSetter,
        facts: CaseFacts,
    ) -> WhatIf | None:
        """Try each value; return the input's outcomes when any differs from the case as it stands."""
        fixed = self.decision_fixed(entry)
        baseline, truths, coverage_ids = self.baseline, self.truths, self.coverage_ids
        as_is = self.as_is
        every, direct = open_rules
        redefines = entry.redefines
        tried: list[tuple[Any, _Region | str, _Result]] = []
        differs = False
        classes = entry.value_classes
        by_class: dict[tuple[bool, ...], _Result] = {}
        try:
            for value, where in entry.candidates:
                if classes is not None:
                    same = by_class.get(classes[value])
                    if same is not None:  # a value no rule tells apart from one already tried
                        tried.append((value, where, same))
                        continue
                # When the derived facts stay the same, only the rules reading the input itself can change.
                changed: dict[str, Truth] = {}
                try:
                    for rule_id, evaluate in direct if setter.set(value) else every:
                        truth = evaluate(facts, None)
                        if truth is not truths[rule_id]:
                            if redefines:
                                # Rules come in pack order, definitions first: a rule using a definition
                                # reads its new truth from the case view's truths, put back below.
                                changed[rule_id] = truths[rule_id]
                                truths[rule_id] = truth
                            else:
                                changed[rule_id] = truth
                finally:
                    if redefines:
                        for rule_id, as_was in changed.items():
                            changed[rule_id], truths[rule_id] = truths[rule_id], as_was
                if not changed:
                    result = as_is
                else:
                    # Only a step rule or a factor can change the decision; definitions act through them.
                    if fixed or changed.keys().isdisjoint(self.decisive_ids):
                        decision = baseline
                    else:
                        decision = redecide(truths, changed, baseline, self.pack)
                    if changed.keys().isdisjoint(coverage_ids):
                        met = self.coverage_met
                    else:
                        met = all(changed.get(rule_id, truths[rule_id]) is True for rule_id in coverage_ids)
                    result = (decision.decision, decision.strength, decision.score, met)
                    differs = differs or result != as_is
                tried.append((value, where, result))
                if classes is not None:
                    by_class[classes[value]] = result
        finally:
            setter.restore()
        if not differs:
            return None
        return self.what_if(entry, fracture_index, tried)

    def what_if(
        self, entry: _Input, fracture_index: int | None, tried: list[tuple[Any, _Region | str, _Result]]
    ) -> WhatIf:
        """The input's outcomes, neighbouring numeric regions with the same result read as one."""
        as_is = self.as_is
        merged: list[tuple[Any, _Region | str, _Result]] = []
        for value, where, result in tried:
            if merged:
                _, previous, previous_result = merged[-1]
                if isinstance(where, _Region) and isinstance(previous, _Region) and result == previous_result:
                    merged[-1] = (merged[-1][0], previous.joined(where), result)
                    continue
            merged.append((value, where, result))
        outcomes = tuple(
            Outcome(where.label if isinstance(where, _Region) else where, value, *result)
            for value, where, result in merged
        )
        decision, _, score, met = as_is
        decision_differs = score_differs = coverage_differs = False
        for _, _, result in merged:
            decision_differs = decision_differs or result[0] != decision
            score_differs = score_differs or result[2] != score
            coverage_differs = coverage_differs or result[3] != met
        changes = tuple(
            change
            for change, differs in (
                ("decision", decision_differs),
                ("score", score_differs),
                ("coverage", coverage_differs),
            )
            if differs
        )
        path = entry.name if fracture_index is None else f"fractures[{fracture_index}].{entry.name}"
        return WhatIf(path, entry.name, changes, outcomes)


_Result = tuple[str, "str | None", "int | None", bool]
"""Decision, strength, score and whether Medicare coverage is met."""
