"""The case as Polars columns, derived from the case model's shapes (one source of truth).

A batch of cases is a frame in the *flat layout* (:data:`FLAT_FIELDS`): ``id``, one column per member of
the ``patient``, ``pain``, ``conservative_care`` and ``preferences`` records (``patient.age``), and
``fractures`` as a list of structs. The column types and the checks that a row is valid both come from
``vertaid.case/1``'s shapes, so a member added to the case model is read and checked here without a
second list to keep in step.

The checks here only *admit* rows: a row they do not admit goes to the case model itself, which names
every problem (or accepts the row, when the columns were merely too strict to tell).
"""

from __future__ import annotations

from typing import Any, Final

import polars as pl

from vertaid.domain._shapes import Boolean, Choice, Field, Integer, ListOf, Number, Record, Shape, Text
from vertaid.domain.case import CASE_SHAPE, FRACTURE_SHAPE

__all__ = [
    "CASE_DTYPE",
    "FLAT_DTYPES",
    "FLAT_FIELDS",
    "FRACTURE_DTYPE",
    "case_admitted",
    "field_admitted",
    "flat_fields",
    "polars_dtype",
]


def polars_dtype(shape: Shape) -> pl.DataType:
    """Return the Polars type that holds a value of ``shape``.

    Whole numbers are held as floats: a reader would cut ``2.5`` to ``2`` in an integer column, where
    the case model refuses it; as a float, the check below sees that it is not whole.
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


def flat_fields(shape: Record = CASE_SHAPE) -> dict[str, Field]:
    """The flat layout's columns, in order, each with the field it holds: a record's members are columns
    of their own (``patient.age``), its other members one column each.

    A record is flattened only where that loses nothing the case model tells apart: a required record
    must have a required member (then absent, null and ``{}`` are all refused, as its members are), an
    optional one must have none (then absent and ``{}`` both read as its defaults).
    """
    columns: dict[str, Field] = {}
    for name, field in shape.fields.items():
        if isinstance(field.shape, Record):
            members = field.shape.fields
            if field.required != any(member.required for member in members.values()):
                raise TypeError(f"{name}: a record the flat layout cannot hold")  # pragma: no cover
            columns.update({f"{name}.{member}": spec for member, spec in members.items()})
        else:
            columns[name] = field
    return columns


FLAT_FIELDS: Final = flat_fields()
FLAT_DTYPES: Final = {name: polars_dtype(field.shape) for name, field in FLAT_FIELDS.items()}


def case_admitted() -> pl.Expr:
    """Return a never-null boolean over a frame in the flat layout: the case's members certainly pass the
    case model's checks, but for each fracture's own members and the fractures' distinct levels (which
    are checked one row per fracture, with :func:`field_admitted` on ``FRACTURE_SHAPE``'s fields)."""
    checks = []
    for name, field in FLAT_FIELDS.items():
        column = pl.col(name)
        if name == "fractures":
            assert isinstance(field.shape, ListOf)
            length = column.list.len()
            checks.append((length >= field.shape.min_items).fill_null(False))
            if field.shape.max_items is not None:
                checks.append((length <= field.shape.max_items).fill_null(False))
        else:
            checks.append(field_admitted(column, field))
    return pl.all_horizontal(checks)


def field_admitted(member: pl.Expr, field: Field) -> pl.Expr:
    """Return a never-null boolean: the member certainly passes ``field``'s check (null when optional)."""
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
        return pl.all_horizontal(
            [field_admitted(value.struct.field(name), field) for name, field in shape.fields.items()]
        )
    raise TypeError(f"no check for {shape!r}")  # pragma: no cover - every case shape is covered


def _choice_values(shape: Choice) -> list[Any]:
    return [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in shape.values]
