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

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from vertaid.cohort._layout import FLAT_FIELDS, case_admitted, field_admitted
from vertaid.domain._shapes import Choice, Field, ListOf, Record
from vertaid.domain.case import FRACTURE_SHAPE, MORPHOMETRY_SHAPE
from vertaid.domain.engine import AUGMENTATION, decision_by_score, rules_in_order, step_decisions
from vertaid.domain.facts import FACTS
from vertaid.domain.pack import KnowledgePack

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
    """A quantifier over a case's fractures that a case condition reads, as column ``name``.

    ``settles`` holds for a fracture that settles it (one that holds for "any", one that does not for
    "all"), ``unknown`` for a fracture whose result is unknown: per case, the quantifier is ``settling``
    when a fracture settles it, unknown when none does but one is unknown, and ``not settling`` otherwise.
    """

    name: str
    settling: bool
    settles: pl.Expr
    unknown: pl.Expr


class _PolicyCompiler:
    """Compiles the pack's conditions (as written) into Polars expressions."""

    def __init__(self, pack: KnowledgePack) -> None:
        self.parameters: Mapping[str, Any] = {name: p.value for name, p in pack.parameters.items()}
        self.definitions = {rule.id: rule.condition.source for rule in pack.definitions}
        self.quantified: list[_Quantified] = []
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
        settles = among & (inner if settling else ~inner).fill_null(False)
        self.quantified.append(_Quantified(name, settling, settles, among & inner.is_null()))
        return pl.col(name)

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
    """The case's facts from the flat layout's columns (a fact's attribute is its column's name)."""
    return [
        _filled(pl.col(spec.attribute), FLAT_FIELDS[spec.attribute]).alias(spec.name)
        for spec in FACTS.values()
        if spec.scope == "case"
    ]


def _fracture_fact_columns() -> list[pl.Expr]:
    """A fracture's facts from its members (one column each), whether the case model may refuse it, and
    its level as one bit of a word (to tell whether a case's levels are distinct)."""
    columns = [pl.col("_row")]
    for name, field in FRACTURE_SHAPE.fields.items():
        if isinstance(field.shape, Record):
            continue
        columns.append(
            _filled(pl.col(name), field).alias("_stated_height" if name == "height_loss_percent" else name)
        )
    for name in MORPHOMETRY_SHAPE.fields:
        columns.append(pl.col("morphometry_mm").struct.field(name).alias(f"_mm_{name}"))
    checks = [field_admitted(pl.col(name), field) for name, field in FRACTURE_SHAPE.fields.items()]
    columns.append((~pl.all_horizontal(checks)).alias("_refused"))
    level = FRACTURE_SHAPE.fields["level"].shape
    assert isinstance(level, Choice) and len(level.values) <= 64
    bits = [1 << index for index in range(len(level.values))]
    columns.append(
        pl.col("level")
        .replace_strict(list(level.values), bits, default=0, return_dtype=pl.UInt64)
        .alias("_level_bit")
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
    fracture_stages: tuple[tuple[pl.Expr, ...], ...]
    """Per fracture, in stages that each read the columns of those before: its facts, the height loss,
    acuity, whether it is a target and its Genant grade, and the :attr:`flags`."""
    flags: tuple[str, ...]
    """The fracture flags a case aggregates with "any": ``_refused``, ``_near_tie``, then each
    quantifier's."""
    quantified: tuple[_Quantified, ...]
    truths: Mapping[str, pl.Expr]
    """Each rule's condition, in the order the per-case engine evaluates them (and reports them fired)."""
    result_stages: tuple[tuple[pl.Expr, ...], ...]
    """The results of a case (:data:`RESULT_COLUMNS` but the fractures' own) from the rules' truths."""


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
    height, near_tie = _height_from_morphometry(pack.morphometry.decimals)
    # The Genant grade: how many of the pack's lower bounds the height loss reaches.
    bounds = pack.morphometry.genant_lower_bounds
    genant = pl.sum_horizontal([pl.col("height_loss_percent") >= bound for bound in bounds])
    flags = [
        pl.col("_refused"),
        (pl.col("_stated_height").is_null() & near_tie.fill_null(False)).alias("_near_tie"),
    ]
    for q in compiler.quantified:
        flags += [q.settles.alias(f"{q.name}_settles"), q.unknown.alias(f"{q.name}_unknown")]
    fracture_stages = (
        tuple(_fracture_fact_columns()),
        (pl.coalesce(pl.col("_stated_height").cast(pl.Float64), height).alias("height_loss_percent"),),
        (acuity.alias("acuity"),),
        (
            (pl.col("acuity") == "unhealed").alias("is_target"),
            pl.when(pl.col("height_loss_percent").is_not_null()).then(genant).alias("_genant"),
        ),
        tuple(flags),
    )
    return _CompiledPolicy(
        fracture_stages=fracture_stages,
        flags=tuple(flag.meta.output_name() for flag in flags),
        quantified=tuple(compiler.quantified),
        truths=truths,
        result_stages=_result_stages(pack, {rule_id: pl.col(rule_id) for rule_id in truths}),
    )


def _policy(pack: KnowledgePack) -> _CompiledPolicy:
    return pack.derived("cohort: compiled policy", _compile)


def _result_stages(pack: KnowledgePack, truths: Mapping[str, pl.Expr]) -> tuple[tuple[pl.Expr, ...], ...]:
    """Decision, strength, score and Medicare coverage from the rules' truths (columns named by rule id),
    in two stages: the factor score and the outcome's place in one table of decisions, then the results."""
    weights = pack.factor_weights
    score = pl.sum_horizontal(
        [
            pl.when(truths[rule_id]).then(pl.lit(weight, pl.Int64)).otherwise(0)
            for rule_id, weight in weights.items()
        ]
    )
    lowest = sum(weight for weight in weights.values() if weight < 0)
    highest = sum(weight for weight in weights.values() if weight > 0)
    by_score = [decision_by_score(value, pack) for value in range(lowest, highest + 1)]
    steps = step_decisions(pack)
    # Each outcome is a place in one table: the first step whose rule fires, else the score's own.
    table = [made.decision for made in steps] + [made.decision for made in by_score]
    outcome = pl.col("_score") - lowest + len(steps)
    for index, step in reversed(list(enumerate(pack.steps))):
        fired = pl.any_horizontal([truths[rule.id].fill_null(False) for rule in step.rules])
        outcome = pl.when(fired).then(pl.lit(index, pl.Int64)).otherwise(outcome)
    strength = pl.lit(pl.Series([made.strength for made in by_score], dtype=pl.String)).gather(
        pl.col("_score") - lowest
    )
    augmentation = pl.lit(pl.Series([d in AUGMENTATION for d in table], dtype=pl.Boolean)).gather(
        pl.col("_outcome")
    )
    coverage = pl.all_horizontal([truths[rule.id].fill_null(False) for rule in pack.coverage])
    return (
        (score.alias("_score"),),
        (outcome.alias("_outcome"),),
        (
            pl.lit(pl.Series(table, dtype=pl.String)).gather(pl.col("_outcome")).alias("decision"),
            pl.when(augmentation).then(strength).alias("strength"),
            pl.when(augmentation).then(pl.col("_score")).alias("score"),
            coverage.alias("lcd_coverage_met"),
        ),
    )


def assess_columns(cases: pl.DataFrame, pack: KnowledgePack, *, explain: bool = False) -> pl.DataFrame:
    """Decide every case in ``cases`` (a frame in the flat layout) with ``pack``.

    Returns one row per case, in order: :data:`RESULT_COLUMNS`, ``rules_fired`` when ``explain``, then
    ``_admitted`` — whether the case model certainly accepts the case (a case it is not is decided again
    by the caller, one at a time: its results here mean nothing) — and ``_rounding_unsure`` — true for a
    case whose morphometric height loss lies too near a rounding tie for columns to be sure of it.
    """
    policy = _policy(pack)
    fractures = (
        cases.lazy()
        .select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"), "fractures")
        .explode("fractures", empty_as_null=True, keep_nulls=True)  # every case keeps a row
        .select("_row", pl.col("fractures").struct.unnest())
    )
    for stage in policy.fracture_stages:
        fractures = fractures.with_columns(*stage)
    per_case = _per_case(
        fractures.select("_row", "level", "is_target", "_genant", "_level_bit", *policy.flags).collect(
            engine="in-memory"
        ),
        policy,
        cases.height,
    )
    case_facts = cases.select(*_case_fact_columns(), case_admitted().alias("_case_admitted"))
    decided = (
        pl.concat([case_facts, per_case], how="horizontal")
        .lazy()
        .select(
            *(expression.alias(rule_id) for rule_id, expression in policy.truths.items()),
            "target_levels",
            "worst_genant_grade",
            (pl.col("_case_admitted") & pl.col("_fractures_admitted")).alias("_admitted"),
            "_rounding_unsure",
        )
    )
    for stage in policy.result_stages:
        decided = decided.with_columns(*stage)
    truths = decided.collect(engine="in-memory")
    results = truths.select(*RESULT_COLUMNS)
    if explain:
        results = results.with_columns(_fired(truths.select(list(policy.truths))))
    return results.with_columns(truths.get_column("_admitted"), truths.get_column("_rounding_unsure"))


def _per_case(fractures: pl.DataFrame, policy: _CompiledPolicy, count: int) -> pl.DataFrame:
    """What each case's fractures add up to: target levels and their count, the worst Genant grade,
    whether the case model certainly accepts every fracture (at distinct levels), whether a height is
    near a rounding tie, and each quantifier.

    The fractures are in case order (as exploded), so each case's are one run: they are added up run by
    run with NumPy's ``reduceat`` rather than grouped.
    """
    runs = np.bincount(fractures.get_column("_row").to_numpy(), minlength=count)
    starts = np.cumsum(runs) - runs  # every case has a run: none is empty
    held = pl.from_numpy(
        _any_per_run(fractures.select(policy.flags).to_numpy(order="c"), starts), schema=policy.flags
    )
    is_target = fractures.get_column("is_target").fill_null(False)
    targets = np.add.reduceat(is_target.cast(pl.Int32).to_numpy(), starts)
    worst = np.maximum.reduceat(
        fractures.get_column("_genant").fill_null(-1).cast(pl.Int64).to_numpy(), starts
    )
    levels = fractures.get_column("level").filter(is_target).to_arrow().cast(pa.string())
    offsets = pa.array(np.concatenate(([0], np.cumsum(targets))), pa.int32())
    # Levels are distinct when no bit is set twice: adding the bits then carries nowhere.
    level_bits = fractures.get_column("_level_bit").fill_null(0).to_numpy()
    distinct = np.bitwise_or.reduceat(level_bits, starts) == np.add.reduceat(level_bits, starts)
    quantifiers = []
    for q in policy.quantified:
        settles, unknown = pl.col(f"{q.name}_settles"), pl.col(f"{q.name}_unknown")
        # Settled: its value; else unknown when a fracture is unknown (null, from a when without otherwise).
        quantifiers.append(
            pl.when(settles | ~unknown).then(settles if q.settling else ~settles).alias(q.name)
        )
    return held.select(
        pl.Series("_target_count", targets),
        pl.Series("target_levels", pl.from_arrow(pa.ListArray.from_arrays(offsets, levels))),
        pl.Series("worst_genant_grade", worst).replace(-1, None),
        (~pl.col("_refused") & pl.lit(pl.Series(distinct))).alias("_fractures_admitted"),
        pl.col("_near_tie").alias("_rounding_unsure"),
        *quantifiers,
    )


def _any_per_run(flags: npt.NDArray[np.bool_], starts: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Whether any row of each run (from each of ``starts`` to the next) holds, column by column.

    The columns are packed into 64-bit words first: one ``reduceat`` over whole words is many times
    faster than one over a two-dimensional array of booleans.
    """
    columns = flags.shape[1]
    words = (columns + 63) // 64
    packed = np.zeros((flags.shape[0], words * 8), np.uint8)
    packed[:, : (columns + 7) // 8] = np.packbits(flags, axis=1, bitorder="little")
    held = np.bitwise_or.reduceat(packed.view(np.uint64), starts, axis=0)
    return np.unpackbits(held.view(np.uint8), axis=1, bitorder="little")[:, :columns].astype(np.bool_)


def _fired(truths: pl.DataFrame) -> pl.Series:
    """The ids of the rules that hold for each case (``truths``, a column per rule), in column order."""
    cases, rules = np.nonzero(truths.fill_null(False).to_numpy())  # row by row, each row's in order
    offsets = np.concatenate(([0], np.cumsum(np.bincount(cases, minlength=truths.height))))
    ids = pa.array(truths.columns, pa.string()).take(pa.array(rules))
    fired = pl.from_arrow(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), ids))
    assert isinstance(fired, pl.Series)
    return fired.alias("rules_fired")
