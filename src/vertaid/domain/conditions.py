"""The condition language of the knowledge pack.

Every rule of the policy — a red flag, a contraindication, a factor of the KP-versus-VP score, a Medicare
coverage item — is a condition written in the pack as data, for example::

    any_target: {fact: height_loss_percent, gt: {param: kyphoplasty_height_loss_percent}}

Conditions use three-valued logic: a fact that the case leaves unknown makes a comparison *unknown*
(``None``), not false. A rule fires only when its condition is ``True``; the engine then asks, for each
unknown fact a rule read, whether knowing it would change the decision. A leaf may say how an unknown
value counts (``unknown_as: false``) where the policy says so explicitly.

Numbers in comparisons always come from named, cited parameters (``{param: name}``), never literals, so
that one threshold serves every rule that uses it and a clinician changes it in one place.

Forms (one key per mapping, except a fact test, which is ``fact`` plus one operator):

- ``{fact: NAME, lt|le|gt|ge: {param: P}}`` — numeric comparison
- ``{fact: NAME, eq|ne: VALUE}``, ``{fact: NAME, in|not_in: [VALUES] or {param: P}}``
- ``{fact: NAME, is: true|false}``, ``{fact: NAME, known: true|false}``
- ``{fact: NAME, contains: VALUE}``, ``{fact: NAME, equals: [VALUES]}`` — for list facts (priorities)
- ``{all: [...]}``, ``{any: [...]}``, ``{not: ...}``
- ``{any_fracture|all_fractures|any_target|all_targets: CONDITION}`` — the inner condition is about one
  fracture; ``target`` fractures are those the policy would treat (unhealed)
- ``{count_targets: {ge: {param: P}}}``, ``{count_true: [...], lt: {param: P}}``
- ``{rule: ID}`` — the condition of a named definition given earlier in the pack
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

__all__ = [
    "CASE",
    "FRACTURE",
    "Condition",
    "ConditionError",
    "FactSpec",
    "Scope",
    "Threshold",
    "Truth",
    "compile_condition",
]

Truth = bool | None
"""True, False, or None for unknown."""

Threshold = tuple[float, Literal["above", "below"]]
"""A number a fact is compared with, and the side whose result the number itself gets."""

Scope = Literal["case", "fracture"]
CASE: Final[Scope] = "case"
FRACTURE: Final[Scope] = "fracture"


class ConditionError(ValueError):
    """A condition in the pack is malformed; ``problems`` are ``(path, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))


@dataclass(frozen=True)
class FactSpec:
    """A fact a condition may test: its scope, its kind and, for choices, its allowed values."""

    name: str
    scope: Scope
    kind: Literal["bool", "number", "choice", "list"]
    values: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    getter: Callable[[Any], Any] = field(default=lambda _: None, compare=False, repr=False)


class _CaseView(Protocol):
    @property
    def fractures(self) -> Sequence[Any]: ...

    @property
    def targets(self) -> Sequence[Any]: ...


_Evaluate = Callable[[Any, Any], Truth]
"""Evaluate against (case view, fracture view or None)."""


@dataclass(frozen=True)
class Condition:
    """A compiled condition.

    ``facts_read`` names every fact the condition reads, and ``thresholds`` the numbers each numeric
    fact is compared with (and on which side each number itself falls) — what the engine needs to try
    the other values of an unknown fact.

    Three-valued logic is monotone: a result that is already true or false with a fact unknown stays so
    whatever the fact turns out to be. ``nonmonotone_facts`` names the facts for which that does not
    hold — tested with ``unknown_as`` or ``known``, or counted by ``count_true`` — so the engine knows
    which settled results it must still re-evaluate.
    """

    evaluate: _Evaluate
    facts_read: frozenset[str]
    thresholds: Mapping[str, frozenset[Threshold]]
    quantified: _Evaluate | None = None
    quantifier_scope: str | None = None
    nonmonotone_facts: frozenset[str] = frozenset()

    def __call__(self, case: Any, fracture: Any = None) -> Truth:
        return self.evaluate(case, fracture)

    def matching_levels(self, case: _CaseView) -> list[str]:
        """Return the levels for which the first quantified part of the condition holds."""
        if self.quantified is None or self.quantifier_scope is None:
            return []
        fractures = case.targets if self.quantifier_scope == "targets" else case.fractures
        return [f.level for f in fractures if self.quantified(case, f) is True]


_COMPARISONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}
_POINT_SIDE: Final[dict[str, Literal["above", "below"]]] = {
    "lt": "above",
    "ge": "above",
    "le": "below",
    "gt": "below",
}
"""Which side of a comparison the threshold itself falls on: ``nrs ge 5`` puts 5 with the values above."""
_REVERSED: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "lt": operator.gt,
    "le": operator.ge,
    "gt": operator.lt,
    "ge": operator.le,
}
_OPERATORS: Final = (*_COMPARISONS, "eq", "ne", "in", "not_in", "is", "known", "contains", "equals")
_QUANTIFIERS: Final = {
    "any_fracture": ("fractures", any),
    "all_fractures": ("fractures", all),
    "any_target": ("targets", any),
    "all_targets": ("targets", all),
}


def compile_condition(
    node: object,
    *,
    facts: Mapping[str, FactSpec],
    parameters: Mapping[str, Any],
    path: str,
    scope: Scope = CASE,
    rules: Mapping[str, Condition] | None = None,
) -> Condition:
    """Compile a condition from the pack.

    Args:
        node: the condition as loaded from YAML.
        facts: the facts conditions may read, by name.
        parameters: the pack's parameter values in force, by name.
        path: where the condition is in the pack, for problem messages.
        scope: ``case`` at the top level; ``fracture`` inside a quantifier.
        rules: named conditions that ``{rule: ID}`` may refer to.

    Raises:
        ConditionError: naming every problem with its path.
    """
    problems: list[tuple[str, str]] = []
    compiler = _Compiler(facts, parameters, problems, rules or {})
    condition = compiler.compile(node, path, scope)
    if problems or condition is None:
        raise ConditionError(problems or [(path, "is not a condition")])
    return condition


class _Compiler:
    def __init__(
        self,
        facts: Mapping[str, FactSpec],
        parameters: Mapping[str, Any],
        problems: list[tuple[str, str]],
        rules: Mapping[str, Condition],
    ) -> None:
        self.facts = facts
        self.parameters = parameters
        self.problems = problems
        self.rules = rules

    def fail(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def compile(self, node: object, path: str, scope: Scope) -> Condition | None:
        if not isinstance(node, dict) or not node:
            self.fail(path, "a condition must be a non-empty mapping")
            return None
        if "fact" in node:
            return self.leaf(node, path, scope)
        if "count_true" in node:
            return self.count_true(node, path, scope)
        if len(node) != 1:
            self.fail(path, f"a condition has one key, got {sorted(node)}")
            return None
        ((key, value),) = node.items()
        if key in ("all", "any"):
            return self.junction(key, value, f"{path}.{key}", scope)
        if key == "not":
            return self.negation(value, f"{path}.not", scope)
        if key in _QUANTIFIERS:
            return self.quantifier(key, value, f"{path}.{key}", scope)
        if key == "count_targets":
            return self.count_targets(value, f"{path}.count_targets", scope)
        if key == "rule":
            referenced = self.rules.get(value) if isinstance(value, str) else None
            if referenced is None:
                self.fail(
                    f"{path}.rule", f"unknown rule {value!r} (only definitions given earlier can be used)"
                )
                return None
            if scope != CASE:
                self.fail(f"{path}.rule", "a rule is a case condition")
                return None
            return _reference(str(value), referenced)
        self.fail(path, f"unknown condition {key!r}")
        return None

    # -- composition -------------------------------------------------------------------------

    def junction(self, key: str, value: object, path: str, scope: Scope) -> Condition | None:
        if not isinstance(value, list) or not value:
            self.fail(path, "must be a non-empty list of conditions")
            return None
        parts = [self.compile(member, f"{path}[{i}]", scope) for i, member in enumerate(value)]
        if any(part is None for part in parts):
            return None
        compiled = [part for part in parts if part is not None]
        evaluators = tuple(part.evaluate for part in compiled)
        evaluate = _all_of(evaluators) if key == "all" else _any_of(evaluators)
        first_quantified = next((p for p in compiled if p.quantified is not None), None)
        return Condition(
            evaluate,
            _union_facts(compiled),
            _union_thresholds(compiled),
            first_quantified.quantified if first_quantified else None,
            first_quantified.quantifier_scope if first_quantified else None,
            _union_nonmonotone(compiled),
        )

    def negation(self, value: object, path: str, scope: Scope) -> Condition | None:
        inner = self.compile(value, path, scope)
        if inner is None:
            return None
        inner_evaluate = inner.evaluate

        def evaluate(case: Any, fracture: Any) -> Truth:
            result = inner_evaluate(case, fracture)
            return None if result is None else not result

        return Condition(
            evaluate, inner.facts_read, inner.thresholds, nonmonotone_facts=inner.nonmonotone_facts
        )

    def quantifier(self, key: str, value: object, path: str, scope: Scope) -> Condition | None:
        if scope != CASE:
            self.fail(path, "quantifiers cannot be nested inside a fracture condition")
            return None
        inner = self.compile(value, path, FRACTURE)
        if inner is None:
            return None
        collection, kind = _QUANTIFIERS[key]
        inner_evaluate = inner.evaluate
        getter = operator.attrgetter(collection)

        if kind is any:

            def evaluate(case: Any, fracture: Any) -> Truth:
                unknown = False
                for member in getter(case):
                    result = inner_evaluate(case, member)
                    if result:
                        return True
                    if result is None:
                        unknown = True
                return None if unknown else False

        else:

            def evaluate(case: Any, fracture: Any) -> Truth:
                unknown = False
                for member in getter(case):
                    result = inner_evaluate(case, member)
                    if result is False:
                        return False
                    if result is None:
                        unknown = True
                return None if unknown else True

        facts_read = inner.facts_read | {"targets"} if collection == "targets" else inner.facts_read
        return Condition(
            evaluate, facts_read, inner.thresholds, inner_evaluate, collection, inner.nonmonotone_facts
        )

    def count_targets(self, value: object, path: str, scope: Scope) -> Condition | None:
        if scope != CASE:
            self.fail(path, "count_targets is a case condition")
            return None
        if not isinstance(value, dict) or len(value) != 1:
            self.fail(path, "must be one comparison, e.g. {ge: {param: NAME}}")
            return None
        ((op_name, operand),) = value.items()
        compare = _COMPARISONS.get(op_name)
        threshold = self.number_param(operand, f"{path}.{op_name}")
        if compare is None:
            self.fail(path, f"unknown comparison {op_name!r}")
            return None
        if threshold is None:
            return None

        def evaluate(case: Any, fracture: Any) -> Truth:
            return compare(len(case.targets), threshold)

        return Condition(evaluate, frozenset({"targets"}), {})

    def count_true(self, node: dict[str, Any], path: str, scope: Scope) -> Condition | None:
        members = node.get("count_true")
        comparisons = [key for key in node if key != "count_true"]
        if len(comparisons) != 1 or comparisons[0] not in _COMPARISONS:
            self.fail(path, "count_true needs exactly one comparison: lt, le, gt or ge")
            return None
        if not isinstance(members, list) or not members:
            self.fail(f"{path}.count_true", "must be a non-empty list of conditions")
            return None
        op_name = comparisons[0]
        compare = _COMPARISONS[op_name]
        threshold = self.number_param(node[op_name], f"{path}.{op_name}")
        parts = [self.compile(m, f"{path}.count_true[{i}]", scope) for i, m in enumerate(members)]
        if threshold is None or any(part is None for part in parts):
            return None
        compiled = [part for part in parts if part is not None]
        evaluators = tuple(part.evaluate for part in compiled)

        # Criteria count only when they are known to hold: the policy needs them documented.
        if op_name in ("ge", "gt"):
            # Once enough criteria hold, more cannot undo it: stop counting.
            def evaluate(case: Any, fracture: Any) -> Truth:
                held = 0
                for member in evaluators:
                    if member(case, fracture) is True:
                        held += 1
                        if compare(held, threshold):
                            return True
                return compare(held, threshold)

        else:

            def evaluate(case: Any, fracture: Any) -> Truth:
                held = sum(1 for member in evaluators if member(case, fracture) is True)
                return compare(held, threshold)

        facts_read = _union_facts(compiled)
        # A count of criteria known to hold can grow as facts become known: not monotone.
        return Condition(evaluate, facts_read, _union_thresholds(compiled), nonmonotone_facts=facts_read)

    # -- fact tests --------------------------------------------------------------------------

    def leaf(self, node: dict[str, Any], path: str, scope: Scope) -> Condition | None:
        name = node["fact"]
        spec = self.facts.get(name) if isinstance(name, str) else None
        if spec is None:
            self.fail(f"{path}.fact", f"unknown fact {name!r}")
            return None
        if spec.scope != scope:
            where = "inside a fracture quantifier" if spec.scope == FRACTURE else "at the case level"
            self.fail(f"{path}.fact", f"fact {name!r} can only be tested {where}")
            return None
        unknown_as = node.get("unknown_as")
        if unknown_as is not None and not isinstance(unknown_as, bool):
            self.fail(f"{path}.unknown_as", "must be true or false")
            return None
        operators = [key for key in node if key not in ("fact", "unknown_as")]
        if len(operators) != 1 or operators[0] not in _OPERATORS:
            self.fail(path, f"a fact test needs exactly one operator of {', '.join(_OPERATORS)}")
            return None
        op_name = operators[0]
        test = self.test(spec, op_name, node[op_name], f"{path}.{op_name}")
        if test is None:
            return None
        thresholds: dict[str, frozenset[Threshold]] = {}
        if op_name in _COMPARISONS:
            point = float(self.parameter_value(node[op_name]))
            thresholds[name] = frozenset({(point, _POINT_SIDE[op_name])})

        evaluate = _leaf_evaluator(spec, op_name, node[op_name], test, unknown_as)
        nonmonotone = frozenset({name}) if unknown_as is not None or op_name == "known" else frozenset()
        return Condition(evaluate, frozenset({name}), thresholds, nonmonotone_facts=nonmonotone)

    def test(self, spec: FactSpec, op_name: str, operand: object, path: str) -> Callable[[Any], bool] | None:
        if op_name in _COMPARISONS:
            if spec.kind != "number":
                self.fail(path, f"{op_name} compares numbers; {spec.name!r} is not a number")
                return None
            threshold = self.number_param(operand, path)
            if threshold is None:
                return None
            # ``value < threshold`` is ``threshold > value``: a partial of a C operator is the cheapest test.
            return functools.partial(_REVERSED[op_name], threshold)
        if op_name in ("is", "known"):
            if not isinstance(operand, bool):
                self.fail(path, "must be true or false")
                return None
            if op_name == "is" and spec.kind != "bool":
                self.fail(path, f"'is' tests a yes/no fact; {spec.name!r} is not one")
                return None
            return functools.partial(operator.is_, operand)
        if op_name in ("eq", "ne"):
            expected = self.choice_value(spec, operand, path)
            if expected is _MISSING:
                return None
            return functools.partial(operator.eq if op_name == "eq" else operator.ne, expected)
        if op_name in ("in", "not_in"):
            options = self.choice_values(spec, operand, path)
            if options is None:
                return None
            allowed: frozenset[Any] = options
            return allowed.__contains__ if op_name == "in" else (lambda value: value not in allowed)
        if spec.kind != "list":
            self.fail(path, f"{op_name} tests a list fact; {spec.name!r} is not a list")
            return None
        if op_name == "contains":
            item = self.choice_value(spec, operand, path)
            if item is _MISSING:
                return None
            return lambda value: item in value
        options = self.choice_values(spec, operand, path)
        if options is None:
            return None
        return lambda value: frozenset(value) == options

    # -- operands ----------------------------------------------------------------------------

    def parameter_value(self, operand: object) -> Any:
        if isinstance(operand, dict) and set(operand) == {"param"}:
            return self.parameters.get(operand["param"], _MISSING)
        return operand

    def number_param(self, operand: object, path: str) -> float | None:
        if not (isinstance(operand, dict) and set(operand) == {"param"}):
            self.fail(path, "numbers in conditions come from parameters: write {param: NAME}")
            return None
        value = self.parameters.get(operand["param"], _MISSING)
        if value is _MISSING:
            self.fail(path, f"unknown parameter {operand['param']!r}")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, f"parameter {operand['param']!r} is not a number")
            return None
        return value

    def choice_value(self, spec: FactSpec, operand: object, path: str) -> Any:
        value = self.parameter_value(operand)
        if value is _MISSING:
            self.fail(path, "unknown parameter")
            return _MISSING
        if spec.values and value not in spec.values:
            self.fail(path, f"{value!r} is not a value of {spec.name!r}")
            return _MISSING
        return value

    def choice_values(self, spec: FactSpec, operand: object, path: str) -> frozenset[Any] | None:
        values = self.parameter_value(operand)
        if not isinstance(values, list) or not values:
            self.fail(path, "must be a non-empty list of values (or {param: NAME} naming one)")
            return None
        unknown = [v for v in values if spec.values and v not in spec.values]
        if unknown:
            self.fail(path, f"{unknown!r} are not values of {spec.name!r}")
            return None
        return frozenset(values)


_MISSING: Final = object()


def _leaf_evaluator(
    spec: FactSpec, op_name: str, operand: Any, test: Callable[[Any], bool], unknown_as: Truth
) -> _Evaluate:
    """Build a fact test; the scope and the common operators are fixed here, once, for speed."""
    getter = spec.getter
    on_fracture = spec.scope == FRACTURE
    if op_name == "known":

        def known(case: Any, fracture: Any) -> Truth:
            return (getter(fracture if on_fracture else case) is not None) is operand

        return known
    if op_name == "is":
        if on_fracture:

            def is_on_fracture(case: Any, fracture: Any) -> Truth:
                value = getter(fracture)
                return unknown_as if value is None else value is operand

            return is_on_fracture

        def is_on_case(case: Any, fracture: Any) -> Truth:
            value = getter(case)
            return unknown_as if value is None else value is operand

        return is_on_case
    if on_fracture:

        def on_fracture_test(case: Any, fracture: Any) -> Truth:
            value = getter(fracture)
            return unknown_as if value is None else test(value)

        return on_fracture_test

    def on_case_test(case: Any, fracture: Any) -> Truth:
        value = getter(case)
        return unknown_as if value is None else test(value)

    return on_case_test


def _reference(rule_id: str, referenced: Condition) -> Condition:
    """``{rule: ID}``: the truth the case view already holds for the rule, else its condition evaluated.

    A case view may carry ``rule_truths``, the rules evaluated so far; reading them saves evaluating a
    definition again for every rule that uses it.
    """
    condition = referenced.evaluate

    def evaluate(case: Any, fracture: Any) -> Truth:
        truths = getattr(case, "rule_truths", None)
        if truths is not None:
            truth = truths.get(rule_id, _MISSING)
            if truth is not _MISSING:
                return truth  # type: ignore[no-any-return]
        return condition(case, fracture)

    return dataclasses.replace(referenced, evaluate=evaluate)


def _all_of(evaluators: tuple[_Evaluate, ...]) -> _Evaluate:
    def evaluate(case: Any, fracture: Any) -> Truth:
        unknown = False
        for member in evaluators:
            result = member(case, fracture)
            if result is False:
                return False
            if result is None:
                unknown = True
        return None if unknown else True

    return evaluate


def _any_of(evaluators: tuple[_Evaluate, ...]) -> _Evaluate:
    def evaluate(case: Any, fracture: Any) -> Truth:
        unknown = False
        for member in evaluators:
            result = member(case, fracture)
            if result:
                return True
            if result is None:
                unknown = True
        return None if unknown else False

    return evaluate


def _union_facts(parts: Iterable[Condition]) -> frozenset[str]:
    return frozenset().union(*(part.facts_read for part in parts))


def _union_nonmonotone(parts: Iterable[Condition]) -> frozenset[str]:
    return frozenset().union(*(part.nonmonotone_facts for part in parts))


def _union_thresholds(parts: Iterable[Condition]) -> dict[str, frozenset[Threshold]]:
    merged: dict[str, frozenset[Threshold]] = {}
    for part in parts:
        for name, values in part.thresholds.items():
            merged[name] = merged.get(name, frozenset()) | values
    return merged
