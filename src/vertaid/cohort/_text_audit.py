"""What the columns cannot see in a JSON line: its keys.

Decoding a line into typed columns keeps only the members the case model names, so an unknown or
misplaced key, or a key given twice, would vanish silently. The case model refuses all three, so a line
is vouched for only when its text shows none of them. Two checks, the cheap one for every line:

1. **Colons.** Every key is followed by one colon outside strings. Let ``K`` keys be in the line, ``D``
   decoded members hold a value and ``Z`` keys be given as ``null``; each of the ``D`` and ``Z`` is a
   different key, so ``K >= D + Z``, with equality exactly when no key is unknown, misplaced or repeated
   with a value. The line's colons are ``K`` plus those inside strings, and the matches of ``:\\s*null``
   are ``Z`` plus at most one per colon inside a string; so ``colons == D + null matches`` holds only if
   ``K == D + Z``. (A colon inside a string merely sends the line to the case model.)
2. **Skeleton**, for lines with a ``null`` or an id that could be a number's text: no backslash (so each
   ``"`` delimits a string and a string followed by ``:`` is a key); the *skeleton* — keys and brackets
   in order — fits the case grammar built from the case model's shapes, so every key, even one given as
   ``null``, belongs to the object it is in; no object has a key twice (the decoder keeps the first of
   two repeated keys, the case model the last); and the id, when given, is a
   JSON string.

A line that fails is not rejected here: it goes to the case model, which decides.
"""

from __future__ import annotations

import re
from typing import Final

import polars as pl

from vertaid.cohort._layout import non_null_members
from vertaid.domain._shapes import Boolean, ListOf, Record, Shape, Text
from vertaid.domain.case import CASE_SHAPE

__all__ = ["keys_admitted", "needs_skeleton", "skeleton_admitted"]

_NULL_VALUE: Final = r":\s*null"
_BOOLEAN_VALUE: Final = r":\s*(?:true|false)"
_LIST_VALUE: Final = r":\s*\["
_SKELETON_TOKEN: Final = r'"[^"]*"\s*:|[{}\[\]]'
_LOOKS_LIKE_NUMBER_OR_LITERAL: Final = r"^(?:-?[0-9][0-9.eE+-]*|true|false)$"


def _quoted(name: str) -> str:
    return f'"{name}"'


def _skeleton_pattern(shape: Record) -> str:
    """A regular expression for the skeletons of valid objects of ``shape``."""
    members = []
    for name, field in shape.fields.items():
        value = ""
        if isinstance(field.shape, Record):
            value = f"(?:{_skeleton_pattern(field.shape)})?"
        elif isinstance(field.shape, ListOf):
            item = field.shape.item
            inner = f"(?:{_skeleton_pattern(item)})*" if isinstance(item, Record) else ""
            value = rf"(?:\[{inner}\])?"
        members.append(f"{re.escape(_quoted(name))}:{value}")
    return r"\{(?:" + "|".join(members) + r")*\}"


_WS: Final = r"\s*"
_SCALAR: Final = r'(?:"[^"]*"|[^,{}\[\]"\s]+)'


def _ordered_line_pattern(shape: Record) -> str:
    """A regular expression for the whole text of objects whose keys come in the case model's order,
    each at most once, with values of the member's kind: the common case checked in one pass over the
    line, without building its skeleton. (The line is known to be valid JSON without backslashes.)"""
    members = []
    for name, field in shape.fields.items():
        if isinstance(field.shape, Record):
            value = f"(?:{_ordered_line_pattern(field.shape)}|null)"
        elif isinstance(field.shape, ListOf) and isinstance(field.shape.item, Record):
            item = _ordered_line_pattern(field.shape.item)
            value = rf"(?:\[{_WS}(?:{item}{_WS},?{_WS})*\]|null)"
        elif isinstance(field.shape, ListOf):
            value = r"(?:\[[^\[\]{}]*\]|null)"
        else:
            value = _SCALAR
        members.append(rf"(?:{re.escape(_quoted(name))}{_WS}:{_WS}{value}{_WS},?{_WS})?")
    return r"\{" + _WS + "".join(members) + r"\}"


def _text_members(shape: Shape) -> tuple[str, ...]:
    """The top-level members that hold free text (the case id): their value must be a JSON string."""
    assert isinstance(shape, Record)
    return tuple(name for name, field in shape.fields.items() if isinstance(field.shape, Text))


_CASE_SKELETON: Final = "^" + _skeleton_pattern(CASE_SHAPE) + "$"
_ORDERED_CASE_LINE: Final = "^" + _WS + _ordered_line_pattern(CASE_SHAPE) + _WS + "$"
_TEXT_MEMBERS: Final = _text_members(CASE_SHAPE)


def keys_admitted(line: pl.Expr, decoded: pl.Expr) -> pl.Expr:
    """The colon check (1): never null; true when the line has no unknown, misplaced or repeated key
    with a value, and the decoder changed no value's kind.

    The same counting shows the decoder took ``true``/``false`` only for yes/no members and a list
    (``[``) only for list members: it would read ``true`` as 1 in a number column and ``"x"`` as
    ``["x"]`` in a list column, where the case model refuses both.
    """
    colons = line.str.count_matches(":", literal=True)
    literals = line.str.count_matches(_BOOLEAN_VALUE)
    lists = line.str.count_matches(_LIST_VALUE)
    return (
        (colons == non_null_members(decoded) + line.str.count_matches(_NULL_VALUE))
        & (literals == non_null_members(decoded, counted=lambda shape: isinstance(shape, Boolean)))
        & (lists == non_null_members(decoded, counted=lambda shape: isinstance(shape, ListOf)))
    ).fill_null(False)


def needs_skeleton(line: pl.Expr, decoded: pl.Expr) -> pl.Expr:
    """Whether a line needs the skeleton check (2): it gives a ``null``, or its id could be a number."""
    check = line.str.contains(_NULL_VALUE)
    for name in _TEXT_MEMBERS:
        check = check | decoded.struct.field(name).str.contains(_LOOKS_LIKE_NUMBER_OR_LITERAL).fill_null(
            False
        )
    return check.fill_null(True)


def skeleton_admitted(lines: pl.DataFrame) -> pl.Series:
    """The skeleton check (2) of each row of ``lines`` (``line`` and the decoded ``case``): true when
    every key, even one given as ``null``, is where it belongs and given once in its object, and the id
    is a JSON string."""
    text_checks = ~pl.col("line").str.contains("\\", literal=True)
    for name in _TEXT_MEMBERS:
        given_as_text = pl.col("line").str.count_matches(re.escape(_quoted(name)) + r'\s*:\s*"')
        held = pl.col("case").struct.field(name).is_not_null().cast(pl.UInt32)
        text_checks = text_checks & (given_as_text == held)
    marked = lines.select(
        pl.int_range(pl.len()).alias("_index"),
        text_checks.fill_null(False).alias("_text"),
        pl.col("line").str.contains(_ORDERED_CASE_LINE).alias("_in_order"),
        pl.col("line"),
    )
    # Keys in the case model's order, each at most once, take one pass over the line. Others need the
    # skeleton: the grammar in any order, each fracture's keys different, and the rest of the case's
    # names all different (records do not share member names, so there any repeat is a key given twice).
    other = marked.filter(~pl.col("_in_order"))
    if other.height:
        skeleton = (
            pl.col("line").str.extract_all(_SKELETON_TOKEN).list.join("").str.replace_all(r'"\s+:', '":')
        )
        other = other.with_columns(skeleton.alias("_skeleton"))
        fractures = pl.col("_skeleton").str.extract(_FRACTURES, 1).str.extract_all(_FRACTURE_OBJECT)
        any_order = (
            pl.col("_skeleton").str.contains(_CASE_SKELETON)
            # The fractures' own keys are checked per fracture; their key stays, so a second
            # "fractures" elsewhere in the case still counts as a repeat.
            & _each_key_once(pl.col("_skeleton").str.replace(_FRACTURES, '"fractures":'))
            & fractures.list.eval(_each_key_once(pl.element())).list.all()
        )
        marked = pl.concat(
            [
                marked.filter(pl.col("_in_order")),
                other.with_columns(any_order.fill_null(False).alias("_in_order")).drop("_skeleton"),
            ]
        ).sort("_index")
    return marked.select((pl.col("_text") & pl.col("_in_order")).alias("_vouched")).to_series()


_SKELETON_KEY: Final = r'"[^"]*":'
_FRACTURES: Final = r'"fractures":\[([^\[\]]*)\]'
_FRACTURE_OBJECT: Final = r"\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}"


def _each_key_once(skeleton: pl.Expr) -> pl.Expr:
    keys = skeleton.str.extract_all(_SKELETON_KEY)
    return keys.list.n_unique() == keys.list.len()
