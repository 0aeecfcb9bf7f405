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
import itertools
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
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
    "batch_evaluator",
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
    """A fact a condition may test: where it is read, its scope, its kind and, for choices, its values."""

    name: str
    scope: Scope
    kind: Literal["bool", "number", "choice", "list"]
    attribute: str
    """The attribute path that reads the fact from the case view or the fracture view (``pain.nrs``)."""
    values: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False

    def __post_init__(self) -> None:
        # Compiled conditions write the path into their expressions: only plain attribute names.
        if not _ATTRIBUTE_PATH.fullmatch(self.attribute):
            raise ValueError(f"fact {self.name!r}: {self.attribute!r} is not an attribute path")

    @cached_property
    def getter(self) -> Callable[[Any], Any]:
        """Read the fact from a case view (case facts) or a fracture view (fracture facts)."""
        return operator.attrgetter(self.attribute)


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

    expression: str
    """The condition as one Python expression over ``case`` and ``fracture``, made by the compiler."""
    namespace: Mapping[str, Any]
    """The constants the expression names: thresholds, allowed values, referenced definitions."""
    facts_read: frozenset[str]
    thresholds: Mapping[str, frozenset[Threshold]]
    quantified_expression: str | None = None
    quantifier_scope: str | None = None
    nonmonotone_facts: frozenset[str] = frozenset()
    facts_read_over_all_fractures: frozenset[str] = frozenset()
    """The fracture facts read for every fracture (``any_fracture``, ``all_fractures``), not only for
    the target levels: a new value of such a fact at a healed level can change the result."""
    source: object = field(default=None, compare=False)
    """The condition as written in the pack, for other evaluators of the same policy (cohorts)."""

    @cached_property
    def evaluate(self) -> _Evaluate:
        """The condition as a function of (case view, fracture view or None).

        One expression compiled into one function evaluates a whole rule in a single call, several
        times faster than a tree of small functions; it is made from the pack's validated structure
        only (fact attributes from the case model, every value a named constant), never from its text.
        """
        return _function(self.expression, self.namespace)

    @cached_property
    def quantified(self) -> _Evaluate | None:
        """The condition's first quantified part, about one fracture, for :meth:`matching_levels`."""
        if self.quantified_expression is None:
            return None
        return _function(self.quantified_expression, self.namespace)

    def __call__(self, case: Any, fracture: Any = None) -> Truth:
        return self.evaluate(case, fracture)

    def matching_levels(self, case: _CaseView) -> list[str]:
        """Return the levels for which the first quantified part of the condition holds."""
        quantified = self.quantified
        if quantified is None or self.quantifier_scope is None:
            return []
        fractures = case.targets if self.quantifier_scope == "targets" else case.fractures
        return [f.level for f in fractures if quantified(case, f) is True]


_COMPARISONS: Final = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_POINT_SIDE: Final[dict[str, Literal["above", "below"]]] = {
    "lt": "above",
    "ge": "above",
    "le": "below",
    "gt": "below",
}
"""Which side of a comparison the threshold itself falls on: ``nrs ge 5`` puts 5 with the values above."""
_OPERATORS: Final = (*_COMPARISONS, "eq", "ne", "in", "not_in", "is", "known", "contains", "equals")
_QUANTIFIERS: Final = {
    "any_fracture": ("fractures", "_kleene_any"),
    "all_fractures": ("fractures", "_kleene_all"),
    "any_target": ("targets", "_kleene_any"),
    "all_targets": ("targets", "_kleene_all"),
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
    return dataclasses.replace(condition, source=node)


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
        self.namespace: dict[str, Any] = dict(_RUNTIME)

    def fresh(self, prefix: str) -> str:
        """A name no other condition uses: for a temporary or a constant (namespaces may be merged)."""
        return f"{prefix}{next(_NAMES)}"

    def constant(self, value: Any) -> str:
        name = self.fresh("_k")
        self.namespace[name] = value
        return name

    def made(
        self,
        expression: str,
        facts_read: frozenset[str],
        thresholds: Mapping[str, frozenset[Threshold]],
        quantified_expression: str | None = None,
        quantifier_scope: str | None = None,
        nonmonotone_facts: frozenset[str] = frozenset(),
        facts_read_over_all_fractures: frozenset[str] = frozenset(),
    ) -> Condition:
        return Condition(
            expression,
            self.namespace,
            facts_read,
            thresholds,
            quantified_expression,
            quantifier_scope,
            nonmonotone_facts,
            facts_read_over_all_fractures,
        )

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
            # The truth the case view already holds for the definition, else its condition evaluated.
            self.namespace.update(referenced.namespace)  # for its quantified part, used for levels
            held = self.fresh("_t")
            expression = (
                f"({held} if ({held} := case.rule_truths.get({self.constant(value)}, _MISSING)) "
                f"is not _MISSING else {self.constant(referenced)}.evaluate(case, None))"
            )
            return self.made(
                expression,
                referenced.facts_read,
                referenced.thresholds,
                referenced.quantified_expression,
                referenced.quantifier_scope,
                referenced.nonmonotone_facts,
                referenced.facts_read_over_all_fractures,
            )
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
        first_quantified = next((p for p in compiled if p.quantified_expression is not None), None)
        return self.made(
            self.kleene(key, [part.expression for part in compiled]),
            _union_facts(compiled),
            _union_thresholds(compiled),
            first_quantified.quantified_expression if first_quantified else None,
            first_quantified.quantifier_scope if first_quantified else None,
            _union_nonmonotone(compiled),
            _union_over_all_fractures(compiled),
        )

    def kleene(self, key: str, expressions: list[str]) -> str:
        """Three-valued ``all`` or ``any`` of expressions, evaluated left to right until one decides.

        ``all``: the first false is the answer; else unknown if any was unknown; else true. ``any`` is the
        same with true and false swapped.
        """
        held = [self.fresh("_p") for _ in expressions]
        deciding, otherwise = ("is False", "False") if key == "all" else ("is True", "True")
        settled = "True" if key == "all" else "False"
        tail = f"(None if {' or '.join(f'{name} is None' for name in held)} else {settled})"
        for name, expression in reversed(list(zip(held, expressions, strict=True))):
            tail = f"({otherwise} if ({name} := {expression}) {deciding} else {tail})"
        return tail

    def negation(self, value: object, path: str, scope: Scope) -> Condition | None:
        inner = self.compile(value, path, scope)
        if inner is None:
            return None
        held = self.fresh("_p")
        return self.made(
            f"(None if ({held} := {inner.expression}) is None else not {held})",
            inner.facts_read,
            inner.thresholds,
            nonmonotone_facts=inner.nonmonotone_facts,
            facts_read_over_all_fractures=inner.facts_read_over_all_fractures,
        )

    def quantifier(self, key: str, value: object, path: str, scope: Scope) -> Condition | None:
        if scope != CASE:
            self.fail(path, "quantifiers cannot be nested inside a fracture condition")
            return None
        inner = self.compile(value, path, FRACTURE)
        if inner is None:
            return None
        collection, combine = _QUANTIFIERS[key]
        facts_read = inner.facts_read | {"targets"} if collection == "targets" else inner.facts_read
        members = self.fresh("_m")
        # Most cases have one fracture: then the quantifier is the inner condition itself, without
        # the generator a longer list needs.
        expression = (
            f"({inner.expression} if len({members} := case.{collection}) == 1 "
            f"and (fracture := {members}[0]) is not None "
            f"else {combine}({inner.expression} for fracture in {members}))"
        )
        return self.made(
            expression,
            facts_read,
            inner.thresholds,
            inner.expression,
            collection,
            inner.nonmonotone_facts,
            inner.facts_read if collection == "fractures" else frozenset(),
        )

    def count_targets(self, value: object, path: str, scope: Scope) -> Condition | None:
        if scope != CASE:
            self.fail(path, "count_targets is a case condition")
            return None
        if not isinstance(value, dict) or len(value) != 1:
            self.fail(path, "must be one comparison, e.g. {ge: {param: NAME}}")
            return None
        ((op_name, operand),) = value.items()
        symbol = _COMPARISONS.get(op_name)
        threshold = self.number_param(operand, f"{path}.{op_name}")
        if symbol is None:
            self.fail(path, f"unknown comparison {op_name!r}")
            return None
        if threshold is None:
            return None
        return self.made(
            f"(len(case.targets) {symbol} {self.constant(threshold)})", frozenset({"targets"}), {}
        )

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
        threshold = self.number_param(node[op_name], f"{path}.{op_name}")
        parts = [self.compile(m, f"{path}.count_true[{i}]", scope) for i, m in enumerate(members)]
        if threshold is None or any(part is None for part in parts):
            return None
        compiled = [part for part in parts if part is not None]
        # Criteria count only when they are known to hold: the policy needs them documented.
        held = " + ".join(f"({part.expression} is True)" for part in compiled)
        facts_read = _union_facts(compiled)
        # A count of criteria known to hold can grow as facts become known: not monotone.
        return self.made(
            f"(({held}) {_COMPARISONS[op_name]} {self.constant(threshold)})",
            facts_read,
            _union_thresholds(compiled),
            nonmonotone_facts=facts_read,
            facts_read_over_all_fractures=_union_over_all_fractures(compiled),
        )

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
        reading = self.reading(spec, scope)
        thresholds: dict[str, frozenset[Threshold]] = {}
        if op_name in _COMPARISONS:
            point = float(self.parameter_value(node[op_name]))
            thresholds[name] = frozenset({(point, _POINT_SIDE[op_name])})

        nonmonotone = frozenset({name}) if unknown_as is not None or op_name == "known" else frozenset()
        if op_name == "known":
            expression = f"({reading} is {'not ' if node[op_name] else ''}None)"
        else:
            value = self.fresh("_v")
            expression = f"({unknown_as!r} if ({value} := {reading}) is None else {test(value)})"
        return self.made(expression, frozenset({name}), thresholds, nonmonotone_facts=nonmonotone)

    def reading(self, spec: FactSpec, scope: Scope) -> str:
        """The expression that reads a fact from the case view or the fracture view."""
        return f"{'fracture' if scope == FRACTURE else 'case'}.{spec.attribute}"

    def test(self, spec: FactSpec, op_name: str, operand: object, path: str) -> Callable[[str], str] | None:
        """Check an operator and its operand; return how to test a known value (named by a variable)."""
        if op_name in _COMPARISONS:
            if spec.kind != "number":
                self.fail(path, f"{op_name} compares numbers; {spec.name!r} is not a number")
                return None
            threshold = self.number_param(operand, path)
            if threshold is None:
                return None
            limit = self.constant(threshold)
            return lambda value: f"{value} {_COMPARISONS[op_name]} {limit}"
        if op_name in ("is", "known"):
            if not isinstance(operand, bool):
                self.fail(path, "must be true or false")
                return None
            if op_name == "is" and spec.kind != "bool":
                self.fail(path, f"'is' tests a yes/no fact; {spec.name!r} is not one")
                return None
            return lambda value: f"{value} is {operand!r}"
        if op_name in ("eq", "ne"):
            expected = self.choice_value(spec, operand, path)
            if expected is _MISSING:
                return None
            wanted = self.constant(expected)
            return lambda value: f"{value} {'==' if op_name == 'eq' else '!='} {wanted}"
        if op_name in ("in", "not_in"):
            options = self.choice_values(spec, operand, path)
            if options is None:
                return None
            allowed = self.constant(options)
            return lambda value: f"{value} {'in' if op_name == 'in' else 'not in'} {allowed}"
        if spec.kind != "list":
            self.fail(path, f"{op_name} tests a list fact; {spec.name!r} is not a list")
            return None
        if op_name == "contains":
            item = self.choice_value(spec, operand, path)
            if item is _MISSING:
                return None
            member = self.constant(item)
            return lambda value: f"{member} in {value}"
        options = self.choice_values(spec, operand, path)
        if options is None:
            return None
        exactly = self.constant(options)
        return lambda value: f"frozenset({value}) == {exactly}"

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


def _kleene_any(results: Iterable[Truth]) -> Truth:
    """True if any result is true; else unknown if any is unknown; else false."""
    unknown = False
    for result in results:
        if result:
            return True
        if result is None:
            unknown = True
    return None if unknown else False


def _kleene_all(results: Iterable[Truth]) -> Truth:
    """False if any result is false; else unknown if any is unknown; else true."""
    unknown = False
    for result in results:
        if result is False:
            return False
        if result is None:
            unknown = True
    return None if unknown else True


_RUNTIME: Final[Mapping[str, Any]] = {
    "__builtins__": {"len": len, "frozenset": frozenset},
    "_kleene_any": _kleene_any,
    "_kleene_all": _kleene_all,
    "_MISSING": _MISSING,
}
"""What every compiled condition may use besides its own constants."""

_NAMES: Final = itertools.count(1)
_ATTRIBUTE_PATH: Final = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*")


def batch_evaluator(named: Sequence[tuple[str, Condition]]) -> Callable[[Any, dict[str, Truth]], None]:
    """Return one function that evaluates many case conditions in order into a dict of truths.

    One call instead of one per condition; ``{rule: ID}`` references read the truths as they fill in.
    """
    namespace: dict[str, Any] = {}
    lines = ["def evaluate_all(case, truths):", "    fracture = None"]
    for position, (rule_id, condition) in enumerate(named):
        namespace.update(condition.namespace)
        namespace[f"_id{position}"] = rule_id
        lines.append(f"    truths[_id{position}] = {condition.expression}")
    code = compile("\n".join(lines), "<knowledge pack conditions>", "exec")
    exec(code, namespace)  # built from the pack's checked structure only, see Condition
    evaluate_all: Callable[[Any, dict[str, Truth]], None] = namespace["evaluate_all"]
    return evaluate_all


def _function(expression: str, namespace: Mapping[str, Any]) -> _Evaluate:
    function: _Evaluate = eval(  # built from the pack's checked structure only, see Condition
        compile(f"lambda case, fracture: {expression}", "<knowledge pack condition>", "eval"),
        dict(namespace),
    )
    return function


def _union_facts(parts: Iterable[Condition]) -> frozenset[str]:
    return frozenset().union(*(part.facts_read for part in parts))


def _union_nonmonotone(parts: Iterable[Condition]) -> frozenset[str]:
    return frozenset().union(*(part.nonmonotone_facts for part in parts))


def _union_over_all_fractures(parts: Iterable[Condition]) -> frozenset[str]:
    return frozenset().union(*(part.facts_read_over_all_fractures for part in parts))


def _union_thresholds(parts: Iterable[Condition]) -> dict[str, frozenset[Threshold]]:
    merged: dict[str, frozenset[Threshold]] = {}
    for part in parts:
        for name, values in part.thresholds.items():
            merged[name] = merged.get(name, frozenset()) | values
    return merged
