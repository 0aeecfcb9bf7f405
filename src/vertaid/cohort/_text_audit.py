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
   ``null``, belongs to the object it is in; no key given as ``null`` is also given elsewhere (the
   decoder keeps the first of two repeated keys, the case model the last); and the id, when given, is a
   JSON string.

A line that fails is not rejected here: it goes to the case model, which decides.
"""

from __future__ import annotations

import re
from typing import Final

import polars as pl

from vertaid.domain._shapes import ListOf, Record, Shape, Text
from vertaid.domain.case import CASE_SHAPE

__all__ = ["keys_admitted", "needs_skeleton", "skeleton_admitted"]

_KEY: Final = r'"[^"]*"\s*:'
_NULL_VALUE: Final = r":\s*null"
_NULL_KEY: Final = r'"[^"]*"\s*:\s*null'
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


def _text_members(shape: Shape) -> tuple[str, ...]:
    """The top-level members that hold free text (the case id): their value must be a JSON string."""
    assert isinstance(shape, Record)
    return tuple(name for name, field in shape.fields.items() if isinstance(field.shape, Text))


_CASE_SKELETON: Final = "^" + _skeleton_pattern(CASE_SHAPE) + "$"
_TEXT_MEMBERS: Final = _text_members(CASE_SHAPE)


def keys_admitted(line: pl.Expr, decoded_members: pl.Expr) -> pl.Expr:
    """The colon check (1): never null; true when the line has no unknown, misplaced or repeated key
    with a value. ``decoded_members`` counts the decoded members that hold one (``non_null_members``)."""
    colons = line.str.count_matches(":", literal=True)
    return (colons == decoded_members + line.str.count_matches(_NULL_VALUE)).fill_null(False)


def needs_skeleton(line: pl.Expr, decoded: pl.Expr) -> pl.Expr:
    """Whether a line needs the skeleton check (2): it gives a ``null``, or its id could be a number."""
    check = line.str.contains(_NULL_VALUE)
    for name in _TEXT_MEMBERS:
        check = check | decoded.struct.field(name).str.contains(_LOOKS_LIKE_NUMBER_OR_LITERAL).fill_null(
            False
        )
    return check.fill_null(True)


def skeleton_admitted(line: pl.Expr, decoded: pl.Expr) -> pl.Expr:
    """The skeleton check (2): never null; true when every key, even one given as ``null``, is where it
    belongs and given once, and the id is a JSON string."""
    skeleton = (
        line.str.extract_all(_SKELETON_TOKEN)
        .list.join("")
        .str.replace_all(r'"\s+:', '":')
        .str.contains(_CASE_SKELETON)
    )
    key_names = line.str.extract_all(_KEY).list.eval(pl.element().str.replace(r"\s*:$", ""))
    null_names = line.str.extract_all(_NULL_KEY).list.eval(pl.element().str.replace(r"\s*:\s*null$", ""))
    repeated = key_names.list.eval(pl.element().filter(pl.element().is_duplicated()))
    admitted = (
        ~line.str.contains("\\", literal=True)
        & skeleton
        & (null_names.list.set_intersection(repeated).list.len() == 0)
    )
    for name in _TEXT_MEMBERS:
        given_as_text = line.str.count_matches(re.escape(_quoted(name)) + r'\s*:\s*"')
        held = decoded.struct.field(name).is_not_null().cast(pl.UInt32)
        admitted = admitted & (given_as_text == held)
    return admitted.fill_null(False)
