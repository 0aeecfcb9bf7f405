"""Fresh copies of fixed JSON-like sections, made fast enough to build one for every assessment.

A section that is the same for every case (the figures per option, the evidence caveat) is still handed
out as new dicts and lists, so that a caller who edits one assessment changes no other. Copying a
template member by member costs more than the rest of such a section's use; one function whose body is
the template written out as a Python literal builds the copy in a single call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = ["fresh_copier"]


def fresh_copier(template: Any) -> Callable[[], Any]:
    """Return a function of no arguments that returns a new deep copy of ``template`` on each call.

    ``template`` holds dicts with string keys, lists and tuples (copied as lists), and strings, numbers,
    booleans and None (immutable, so shared). The function is made from the template's values only,
    each written with ``repr`` (exact for these types), never from text someone typed as code.
    """
    constants: dict[str, Any] = {}
    expression = _literal(template, constants)
    copier: Callable[[], Any] = eval(compile(f"lambda: {expression}", "<fresh copy>", "eval"), constants)
    return copier


def _literal(value: Any, constants: dict[str, Any]) -> str:
    kind = type(value)  # exact types: a subclass (an enum member) may not write itself as a literal
    if kind is dict:
        members = []
        for key, member in value.items():
            if not isinstance(key, str):
                raise TypeError(f"a fresh copy needs string keys, not {key!r}")
            members.append(f"{key!r}: {_literal(member, constants)}")
        return "{" + ", ".join(members) + "}"
    if kind is list or kind is tuple:
        return "[" + ", ".join(_literal(member, constants) for member in value) + "]"
    if value is None or kind is bool or kind is int or kind is str:
        return repr(value)
    if kind is float:
        if math.isfinite(value):
            return repr(value)
        name = f"_c{len(constants)}"  # inf and nan have no literal
        constants[name] = value
        return name
    raise TypeError(f"a fresh copy cannot hold a {type(value).__name__}")
