"""The case as Polars columns, derived from the case model's shapes (one source of truth).

A case is one row: ``id``, the ``patient``, ``pain``, ``conservative_care`` and ``preferences`` records as
structs, and ``fractures`` as a list of structs. The column types and the checks that a decoded row is
valid both come from ``vertaid.case/1``'s shapes, so a member added to the case model is read and checked
here without a second list to keep in step.

The checks here only *admit* rows: a row they do not admit goes to the case model itself, which names
every problem (or accepts the row, when the columns were merely too strict to tell).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import polars as pl

from vertaid.domain._shapes import Boolean, Choice, Field, Integer, ListOf, Number, Record, Shape, Text
from vertaid.domain.case import CASE_SHAPE, FRACTURE_SHAPE

__all__ = ["CASE_DTYPE", "FRACTURE_DTYPE", "admitted", "non_null_members", "polars_dtype"]


def polars_dtype(shape: Shape) -> pl.DataType:
    """Return the Polars type that holds a value of ``shape``.

    Whole numbers are held as floats: the JSON decoder would cut ``2.5`` to ``2`` in an integer column,
    where the case model refuses it; as a float, the check below sees that it is not whole.
    """
    if isinstance(shape, Boolean):
        return pl.Boolean()
    if isinstance(shape, Integer | Number):
        return pl.Float64()
    if isinstance(shape, Text):
        return pl.String()
    if isinstance(shape, Choice):
        if all(isinstance(value, str) for value in shape.values):
            return pl.String()
        if all(isinstance(value, int) and not isinstance(value, bool) for value in shape.values):
            return pl.Float64()
    if isinstance(shape, ListOf):
        return pl.List(polars_dtype(shape.item))
    if isinstance(shape, Record):
        return pl.Struct({name: polars_dtype(field.shape) for name, field in shape.fields.items()})
    raise TypeError(f"no column type for {shape!r}")  # pragma: no cover - every case shape is covered


CASE_DTYPE: Final = polars_dtype(CASE_SHAPE)
FRACTURE_DTYPE: Final = polars_dtype(FRACTURE_SHAPE)


def admitted(column: pl.Expr, shape: Shape = CASE_SHAPE) -> pl.Expr:
    """Return a never-null boolean: the value in ``column`` certainly passes ``shape``'s check.

    The top level is the whole case: it also needs distinct fracture levels, as the case model does.
    """
    checks = _value_admitted(column, shape)
    if shape is CASE_SHAPE:
        levels = column.struct.field("fractures").list.eval(pl.element().struct.field("level"))
        checks = checks & (levels.list.n_unique() == levels.list.len()).fill_null(False)
    return checks


def _field_admitted(member: pl.Expr, field: Field) -> pl.Expr:
    if field.required:
        return member.is_not_null() & _value_admitted(member, field.shape)
    return member.is_null() | _value_admitted(member, field.shape)


def _value_admitted(value: pl.Expr, shape: Shape) -> pl.Expr:
    """A known ``value`` passes ``shape`` (null propagates to false through ``fill_null``)."""
    if isinstance(shape, Boolean):
        return pl.lit(True)
    if isinstance(shape, Integer | Number):
        check = (
            value.is_finite() & (value == value.floor()) if isinstance(shape, Integer) else value.is_finite()
        )
        if shape.minimum is not None:
            low = (
                value > shape.minimum
                if getattr(shape, "exclusive_minimum", False)
                else value >= shape.minimum
            )
            check = check & low
        if shape.maximum is not None:
            check = check & (value <= shape.maximum)
        return check.fill_null(False)
    if isinstance(shape, Text):
        check = pl.lit(True)
        if shape.max_length is not None:
            check = check & (value.str.len_chars() <= shape.max_length)
        if shape.non_blank:
            check = check & (value.str.strip_chars().str.len_chars() > 0)
        return check.fill_null(False)
    if isinstance(shape, Choice):
        return value.is_in(_choice_values(shape)).fill_null(False)
    if isinstance(shape, ListOf):
        length = value.list.len()
        check = length >= shape.min_items
        if shape.max_items is not None:
            check = check & (length <= shape.max_items)
        items = pl.element().is_not_null() & _value_admitted(pl.element(), shape.item)
        check = check & value.list.eval(items).list.all()
        if shape.distinct:
            check = check & (value.list.n_unique() == length)
        return check.fill_null(False)
    if isinstance(shape, Record):
        check = pl.lit(True)
        for name, field in shape.fields.items():
            check = check & _field_admitted(value.struct.field(name), field)
        return check
    raise TypeError(f"no check for {shape!r}")  # pragma: no cover - every case shape is covered


def _choice_values(shape: Choice) -> list[Any]:
    return [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in shape.values]


def non_null_members(
    column: pl.Expr, shape: Shape = CASE_SHAPE, counted: Callable[[Shape], bool] = lambda shape: True
) -> pl.Expr:
    """Return how many members, at every depth, hold a value (not null) and are ``counted`` (by shape):
    with every member counted, one per key the row's JSON text must have had besides those given as
    ``null``."""
    if not isinstance(shape, Record):
        return pl.lit(0, pl.UInt32)
    total: pl.Expr = pl.lit(0, pl.UInt32)
    for name, field in shape.fields.items():
        member = column.struct.field(name)
        if counted(field.shape):
            total = total + member.is_not_null().cast(pl.UInt32)
        if isinstance(field.shape, Record):
            total = total + non_null_members(member, field.shape, counted).fill_null(0)
        elif isinstance(field.shape, ListOf) and isinstance(field.shape.item, Record):
            inner = non_null_members(pl.element(), field.shape.item, counted)
            total = total + member.list.eval(inner).list.sum().fill_null(0).cast(pl.UInt32)
    return total
