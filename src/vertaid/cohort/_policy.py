"""The knowledge pack's policy over columns: every case of a batch decided at once with Polars.

The conditions are the pack's own, as written (``Condition.source``), compiled here to Polars expressions
with the same three-valued logic as the per-case engine: a null is *unknown*, ``&`` and ``|`` are Kleene's,
a quantifier over fractures is true when any fracture's is, unknown when none is but one is unknown.
Thresholds come from the pack's parameters; the decisions of the steps and of the factor score come from
the per-case engine (:func:`step_decisions`, :func:`decision_by_score`), so no clinical number and no
decision table is written twice.

Work is split the way the policy is: fracture facts (acuity, height loss, each quantified condition) on a
frame with one row per fracture, then one aggregation per case, then the case rules.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import polars as pl

from vertaid.domain._shapes import Field, ListOf, Record
from vertaid.domain.case import CASE_SHAPE, FRACTURE_SHAPE, MORPHOMETRY_SHAPE
from vertaid.domain.engine import AUGMENTATION, decision_by_score, rules_in_order, step_decisions
from vertaid.domain.facts import FACTS
from vertaid.domain.pack import KnowledgePack, Rule

__all__ = ["RESULT_COLUMNS", "assess_columns"]

RESULT_COLUMNS: Final = (
    "decision",
    "strength",
    "score",
    "target_levels",
    "lcd_coverage_met",
    "worst_genant_grade",
)
"""What the columnar engine gives per case, as ``vertaid assess`` gives it (CONTRACT §6)."""

_COMPARISONS: Final = frozenset({"lt", "le", "gt", "ge"})


@dataclass(frozen=True)
class _Quantified:
    """A per-case aggregation over the fracture frame that a case condition reads."""

    name: str
    expression: pl.Expr


class _PolicyCompiler:
    """Compiles the pack's conditions (as written) into Polars expressions."""

    def __init__(self, pack: KnowledgePack) -> None:
        self.parameters: Mapping[str, Any] = {name: p.value for name, p in pack.parameters.items()}
        self.definitions = {rule.id: rule.condition.source for rule in pack.definitions}
        self.aggregations: list[_Quantified] = []
        self._names = itertools.count()

    # -- dispatch ------------------------------------------------------------------------------

    def compile(self, node: Any, fracture_scope: bool) -> pl.Expr:
        if "fact" in node:
            return self.leaf(node)
        if "count_true" in node:
            return self.count_true(node, fracture_scope)
        ((key, value),) = node.items()
        if key in ("all", "any"):
            parts = [self.compile(member, fracture_scope) for member in value]
            combined = parts[0]
            for part in parts[1:]:
                # Polars' & and | on booleans are Kleene's: false & unknown is false, true | unknown true.
                combined = combined & part if key == "all" else combined | part
            return combined
        if key == "not":
            return ~self.compile(value, fracture_scope)
        if key in ("any_fracture", "all_fractures", "any_target", "all_targets"):
            return self.quantifier(key, self.compile(value, True))
        if key == "count_targets":
            ((op_name, operand),) = value.items()
            return self.compare(pl.col("_target_count"), op_name, self.value(operand))
        if key == "rule":
            return self.compile(self.definitions[value], fracture_scope)
        raise ValueError(f"condition {key!r} has no columnar form")  # pragma: no cover - pack-checked

    def value(self, operand: Any) -> Any:
        if isinstance(operand, dict) and set(operand) == {"param"}:
            return self.parameters[operand["param"]]
        return operand

    @staticmethod
    def compare(column: pl.Expr, op_name: str, threshold: float) -> pl.Expr:
        if op_name == "lt":
            return column.lt(threshold)
        if op_name == "le":
            return column.le(threshold)
        if op_name == "gt":
            return column.gt(threshold)
        return column.ge(threshold)

    # -- forms ---------------------------------------------------------------------------------

    def leaf(self, node: Mapping[str, Any]) -> pl.Expr:
        spec = FACTS[node["fact"]]
        column = pl.col(spec.name)
        ((op_name, operand),) = ((k, v) for k, v in node.items() if k not in ("fact", "unknown_as"))
        if op_name == "known":
            return column.is_not_null() if operand else column.is_null()
        operand = self.value(operand)
        if op_name in _COMPARISONS:
            test = self.compare(column, op_name, operand)
        elif op_name == "is":
            test = column if operand else ~column
        elif op_name == "eq":
            test = column == operand
        elif op_name == "ne":
            test = column != operand
        elif op_name == "in":
            test = column.is_in(list(operand))
        elif op_name == "not_in":
            test = ~column.is_in(list(operand))
        elif op_name == "contains":
            test = column.list.contains(operand)
        else:  # equals: the list holds exactly these values, in any order
            wanted = list(operand)
            test = column.list.eval(pl.element().is_in(wanted)).list.all()
            for item in wanted:
                test = test & column.list.contains(item)
        unknown_as = node.get("unknown_as")
        if unknown_as is None:
            return test
        return pl.when(column.is_null()).then(pl.lit(unknown_as)).otherwise(test)

    def quantifier(self, key: str, inner: pl.Expr) -> pl.Expr:
        among = pl.col("is_target") if key.endswith(("target", "targets")) else pl.lit(True)
        name = f"_q{next(self._names)}"
        # "any" is settled by one fracture that holds, "all" by one that does not; otherwise a fracture
        # whose result is unknown leaves the whole unknown.
        settling = key.startswith("any")
        settles = inner if settling else ~inner
        self.aggregations.append(_Quantified(f"{name}_settled", (among & settles.fill_null(False)).any()))
        self.aggregations.append(_Quantified(f"{name}_unknown", (among & inner.is_null()).any()))
        return (
            pl.when(pl.col(f"{name}_settled"))
            .then(pl.lit(settling))
            .when(pl.col(f"{name}_unknown"))
            .then(pl.lit(None, pl.Boolean))
            .otherwise(pl.lit(not settling))
        )

    def count_true(self, node: Mapping[str, Any], fracture_scope: bool) -> pl.Expr:
        # Criteria count only when known to hold, as in the per-case engine.
        held = [
            self.compile(member, fracture_scope).fill_null(False).cast(pl.Int32)
            for member in node["count_true"]
        ]
        ((op_name, operand),) = ((k, v) for k, v in node.items() if k != "count_true")
        return self.compare(pl.sum_horizontal(held), op_name, self.value(operand))


# -- reading the case columns -------------------------------------------------------------------


def _filled(member: pl.Expr, field: Field) -> pl.Expr:
    """A member as the case model hands it to the policy: its default when absent, lists never null."""
    if isinstance(field.shape, ListOf):
        return member.fill_null(pl.lit([], dtype=pl.List(pl.String)))
    if field.default is not None:
        return member.fill_null(pl.lit(field.default))
    return member


def _case_fact_columns() -> list[pl.Expr]:
    columns = []
    for spec in FACTS.values():
        if spec.scope != "case":
            continue
        section, member = spec.attribute.split(".")
        record = CASE_SHAPE.fields[section].shape
        assert isinstance(record, Record)
        value = pl.col("case").struct.field(section).struct.field(member)
        columns.append(_filled(value, record.fields[member]).alias(spec.name))
    return columns


def _fracture_fact_columns() -> list[pl.Expr]:
    columns = [pl.col("_row")]
    for name, field in FRACTURE_SHAPE.fields.items():
        if isinstance(field.shape, Record):
            continue
        value = pl.col("_fracture").struct.field(name)
        columns.append(
            _filled(value, field).alias("_stated_height" if name == "height_loss_percent" else name)
        )
    for name in MORPHOMETRY_SHAPE.fields:
        columns.append(
            pl.col("_fracture").struct.field("morphometry_mm").struct.field(name).alias(f"_mm_{name}")
        )
    return columns


def _height_from_morphometry(decimals: int) -> tuple[pl.Expr, pl.Expr]:
    """Height loss from six-point morphometry (policy §5), as ``height_loss_from_morphometry`` computes
    it, and whether the rounding is too close to a tie to be sure columns round it as Python does."""
    expected = pl.max_horizontal(pl.col("_mm_posterior"), pl.col("_mm_reference_posterior"))
    smallest = pl.min_horizontal(pl.col("_mm_anterior"), pl.col("_mm_middle"), pl.col("_mm_posterior"))
    shortfall = 100 * (1 - smallest / expected)
    # max_horizontal skips nulls: without morphometry the loss must stay unknown, not 0.
    loss = pl.when(shortfall.is_not_null()).then(pl.max_horizontal(shortfall, pl.lit(0.0)))
    scaled = loss * (10**decimals)
    near_tie = ((scaled - scaled.floor()) - 0.5).abs() < 1e-6
    return loss.round(decimals), near_tie


@dataclass(frozen=True)
class _CompiledPolicy:
    acuity: pl.Expr
    aggregations: tuple[pl.Expr, ...]
    truths: Mapping[str, pl.Expr]
    """Each rule's condition, in the order the per-case engine evaluates them (and reports them fired)."""
    coverage_rules: tuple[Rule, ...]


def _compile(pack: KnowledgePack) -> _CompiledPolicy:
    compiler = _PolicyCompiler(pack)
    # Acuity (policy §1): the first class that holds; an unknown stops the search.
    acuity: pl.Expr = pl.lit(str(pack.acuity.otherwise) if pack.acuity.otherwise is not None else "unknown")
    for value, condition in reversed(pack.acuity.classes):
        held = compiler.compile(condition.source, True)
        acuity = (
            pl.when(held.is_null())
            .then(pl.lit("unknown"))
            .when(held)
            .then(pl.lit(str(value)))
            .otherwise(acuity)
        )
    truths = {rule.id: compiler.compile(rule.condition.source, False) for rule in rules_in_order(pack)}
    return _CompiledPolicy(
        acuity=acuity,
        aggregations=tuple(q.expression.alias(q.name) for q in compiler.aggregations),
        truths=truths,
        coverage_rules=pack.coverage,
    )


def _policy(pack: KnowledgePack) -> _CompiledPolicy:
    return pack.derived("cohort: compiled policy", _compile)


def _decision_columns(pack: KnowledgePack, truths: Mapping[str, pl.Expr]) -> list[pl.Expr]:
    weights = pack.factor_weights
    score = pl.sum_horizontal(
        [truths[rule_id].fill_null(False).cast(pl.Int64) * weight for rule_id, weight in weights.items()]
    )
    lowest = sum(weight for weight in weights.values() if weight < 0)
    highest = sum(weight for weight in weights.values() if weight > 0)
    by_score = {value: decision_by_score(value, pack) for value in range(lowest, highest + 1)}
    decision = score.replace_strict({k: d.decision for k, d in by_score.items()}, return_dtype=pl.String)
    strength = score.replace_strict({k: d.strength for k, d in by_score.items()}, return_dtype=pl.String)
    for step, made in reversed(list(zip(pack.steps, step_decisions(pack), strict=True))):
        fired = pl.any_horizontal([truths[rule.id].fill_null(False) for rule in step.rules])
        decision = pl.when(fired).then(pl.lit(made.decision)).otherwise(decision)
    augmentation = decision.is_in(sorted(AUGMENTATION))
    return [
        decision.alias("decision"),
        pl.when(augmentation).then(strength).alias("strength"),
        pl.when(augmentation).then(score).alias("score"),
    ]


def assess_columns(cases: pl.DataFrame, pack: KnowledgePack, *, explain: bool = False) -> pl.DataFrame:
    """Decide every case in ``cases`` (a ``case`` struct column of valid cases) with ``pack``.

    Returns one row per case, in order: :data:`RESULT_COLUMNS`, ``rules_fired`` when ``explain``, and
    ``_rounding_unsure`` — true for a case whose morphometric height loss lies too near a rounding tie
    for columns to be sure of it (the caller assesses that case one at a time).
    """
    policy = _policy(pack)
    numbered = cases.lazy().select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"), pl.col("case"))
    height, near_tie = _height_from_morphometry(pack.morphometry.decimals)
    bounds = pack.morphometry.genant_lower_bounds
    fractures = (
        numbered.select("_row", pl.col("case").struct.field("fractures").alias("_fracture"))
        .explode("_fracture")
        .select(_fracture_fact_columns())
        .with_columns(
            pl.coalesce(pl.col("_stated_height").cast(pl.Float64), height).alias("height_loss_percent"),
            (pl.col("_stated_height").is_null() & near_tie.fill_null(False)).alias("_near_tie"),
        )
        .with_columns(policy.acuity.alias("acuity"))
        .with_columns((pl.col("acuity") == "unhealed").alias("is_target"))
        .with_columns(
            # The Genant grade: how many of the pack's lower bounds the height loss reaches.
            pl.when(pl.col("height_loss_percent").is_not_null())
            .then(pl.sum_horizontal([pl.col("height_loss_percent") >= bound for bound in bounds]))
            .alias("_genant")
        )
        .group_by("_row", maintain_order=True)
        .agg(
            pl.col("level").filter(pl.col("is_target")).alias("target_levels"),
            pl.col("is_target").sum().alias("_target_count"),
            pl.col("_genant").max().alias("worst_genant_grade"),
            pl.col("_near_tie").any().alias("_rounding_unsure"),
            *policy.aggregations,
        )
    )
    per_case = numbered.select(_case_fact_columns())
    joined = pl.concat([per_case, fractures.drop("_row")], how="horizontal")
    truths = {rule_id: pl.col(f"rule:{rule_id}") for rule_id in policy.truths}
    columns: list[pl.Expr] = [
        *_decision_columns(pack, truths),
        pl.col("target_levels"),
        pl.all_horizontal([truths[rule.id].fill_null(False) for rule in policy.coverage_rules]).alias(
            "lcd_coverage_met"
        ),
        pl.col("worst_genant_grade").cast(pl.Int64),
    ]
    if explain:
        fired = [pl.when(truths[rule_id].fill_null(False)).then(pl.lit(rule_id)) for rule_id in policy.truths]
        columns.append(pl.concat_list(fired).list.drop_nulls().alias("rules_fired"))
    columns.append(pl.col("_rounding_unsure"))
    return (
        joined.with_columns(
            expression.alias(f"rule:{rule_id}") for rule_id, expression in policy.truths.items()
        )
        .select(columns)
        .collect()
    )
