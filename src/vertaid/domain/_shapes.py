"""Declarative shapes for JSON-like values: validation with path-named problems, and JSON Schema.

One small mechanism checks both the case (``vertaid.case/1``) and the knowledge pack, so that every
problem in either reads the same way (``fractures[0].level: 'L9' is not a vertebral level``) and every
problem in a document is reported at once, not only the first.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import keyword
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

__all__ = [
    "INVALID",
    "Boolean",
    "BoundedProblems",
    "Choice",
    "Field",
    "Integer",
    "ListOf",
    "MappingOf",
    "Number",
    "Problem",
    "Record",
    "Shape",
    "Text",
    "TooManyProblems",
    "describe",
    "join_path",
]

Problem = tuple[str, str]
"""A problem with an input: the JSON path of the value and what is wrong with it."""


class TooManyProblems(Exception):
    """Raised by :class:`BoundedProblems` when one more problem than its limit is reported."""


class BoundedProblems(list[Problem]):
    """A list of problems that stops the checking (``TooManyProblems``) at one past ``limit``.

    A hostile document can hold a problem in every few bytes (a hundred thousand unknown members, a
    list of a hundred thousand wrong items): listing them all costs seconds and answers with megabytes.
    Past the limit, nobody reads them; the checks end there.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def append(self, problem: Problem) -> None:
        if len(self) >= self.limit:
            raise TooManyProblems()
        super().append(problem)


class _Invalid:
    """Marks a value that failed its checks; problems were recorded by whoever returned it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Final = _Invalid()

ROOT: Final = "$"


def join_path(path: str, key: str) -> str:
    """Return the path of member ``key`` under ``path`` (the root is ``$`` and is not written)."""
    return key if path == ROOT else f"{path}.{key}"


def describe(value: object) -> str:
    """Return a short, quoted rendering of a value for a problem message."""
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return repr(shown)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int) and abs(value) >= _LONGEST_SHOWN:
        # Python refuses to write out an integer of over 4300 digits; a message needs none of them.
        return f"a whole number of {_digits(value)} digits"
    return repr(value)


_LONGEST_SHOWN: Final = 10**40
"""Whole numbers from this size on are described by their length, not written out."""


def _digits(value: int) -> int:
    """How many decimal digits ``value`` has, found without writing it out."""
    digits = int(abs(value).bit_length() * math.log10(2))  # never more than the true count
    while abs(value) >= 10**digits:
        digits += 1
    return digits


class Shape:
    """A kind of value: checks one and describes itself as JSON Schema."""

    description: str = ""

    def check(self, value: object, path: str, problems: list[Problem]) -> Any:
        """Return the checked value, or ``INVALID`` after appending problems naming ``path``."""
        raise NotImplementedError

    def json_schema(self) -> dict[str, Any]:
        """Return a JSON Schema (draft 2020-12) fragment for this shape."""
        raise NotImplementedError

    def _with_description(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self.description:
            schema["description"] = self.description
        return schema


@dataclass(frozen=True)
class Integer(Shape):
    """A whole number within an inclusive range."""

    minimum: int | None = None
    maximum: int | None = None
    description: str = ""

    def check(self, value: object, path: str, problems: list[Problem]) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and math.isfinite(value) and value.is_integer():
                value = int(value)
            else:
                problems.append((path, f"{describe(value)} is not a whole number"))
                return INVALID
        return _check_range(value, self.minimum, self.maximum, False, path, problems)

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return self._with_description(schema)


@dataclass(frozen=True)
class Number(Shape):
    """A finite number within a range (the lower bound may be exclusive)."""

    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    description: str = ""

    def check(self, value: object, path: str, problems: list[Problem]) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append((path, f"{describe(value)} is not a number"))
            return INVALID
        try:
            number = float(value)
        except OverflowError:  # a whole number beyond any float (JSON allows any number of digits)
            problems.append((path, f"{describe(value)} is out of range: too large for a number"))
            return INVALID
        if not math.isfinite(number):
            problems.append((path, f"{describe(value)} is not a finite number"))
            return INVALID
        return _check_range(number, self.minimum, self.maximum, self.exclusive_minimum, path, problems)

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "number"}
        if self.minimum is not None:
            schema["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return self._with_description(schema)


def _check_range(
    value: Any,
    minimum: float | None,
    maximum: float | None,
    exclusive_minimum: bool,
    path: str,
    problems: list[Problem],
) -> Any:
    if minimum is not None and (value <= minimum if exclusive_minimum else value < minimum):
        bound = "greater than" if exclusive_minimum else "at least"
        problems.append((path, f"{describe(value)} is out of range: must be {bound} {_fmt(minimum)}"))
        return INVALID
    if maximum is not None and value > maximum:
        problems.append((path, f"{describe(value)} is out of range: must be at most {_fmt(maximum)}"))
        return INVALID
    return value


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


@dataclass(frozen=True)
class Boolean(Shape):
    """``true`` or ``false``."""

    description: str = ""

    def check(self, value: object, path: str, problems: list[Problem]) -> Any:
        if not isinstance(value, bool):
            problems.append((path, f"{describe(value)} is not true or false"))
            return INVALID
        return value

    def json_schema(self) -> dict[str, Any]:
        return self._with_description({"type": "boolean"})


@dataclass(frozen=True)
class Text(Shape):
    """A string, optionally bounded in length and required to be non-blank."""

    max_length: int | None = None
    non_blank: bool = False
    description: str = ""

    def check(self, value: object, path: str, problems: list[Problem]) -> Any:
        if not isinstance(value, str):
            problems.append((path, f"{describe(value)} is not a string"))
            return INVALID
        if self.non_blank and not value.strip():
            problems.append((path, "must not be blank"))
            return INVALID
        if self.max_length is not None and len(value) > self.max_length:
            problems.append((path, f"is too long: at most {self.max_length} characters"))
            return INVALID
        return value

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.non_blank:
            schema["minLength"] = 1
        return self._with_description(schema)


@dataclass(frozen=True)
class Choice(Shape):
    """One of a fixed set; ``noun`` names the set in messages (``'L9' is not a vertebral level``)."""

    values: tuple[Any, ...]
    noun: str = ""
    description: str = ""

    def check(self, value: object, path: str, problems: list[Problem]) -> Any:
        if isinstance(value, bool) or value not in self.values:
            if self.noun:
                problems.append((path, f"{describe(value)} is not {self.noun}"))
            else:
                allowed = ", ".join(str(v) for v in self.values)
                problems.append((path, f"{describe(value)} is not one of: {allowed}"))
            return INVALID
        return value

    def json_schema(self) -> dict[str, Any]:
        return self._with_description({"enum": list(self.values)})


@dataclass(frozen=True)
class ListOf(Shape):
    """A list of items of one shape; ``distinct`` rejects repeated items."""

    item: Shape
    min_items: int = 0
    max_items: int | None = None
    distinct: bool = False
    description: str = ""

    @cached_property
    def _items_as_is(self) -> _AcceptedAsIs | None:
        return _accepted_as_is(self.item)

    def check(self, value: object, path: str, problems: list[Problem]) -> Any:
        if not isinstance(value, list):
            problems.append((path, f"{describe(value)} is not a list"))
            return INVALID
        if len(value) < self.min_items:
            noun = "item" if self.min_items == 1 else "items"
            problems.append((path, f"must have at least {self.min_items} {noun}"))
            return INVALID
        if self.max_items is not None and len(value) > self.max_items:
            problems.append((path, f"has {len(value)} items: at most {self.max_items} are allowed"))
            return INVALID
        as_is = self._items_as_is
        if as_is is not None and as_is[1] is not None:
            # A list of plain choices (modalities, priorities): the full check only when one is not.
            types, values = as_is[0], as_is[1]
            if all(type(member) in types and member in values for member in value) and (
                not self.distinct or len(set(value)) == len(value)
            ):
                return list(value)
        checked = []
        ok = True
        seen: dict[Any, int] = {}
        for index, member in enumerate(value):
            item_path = f"{path}[{index}]"
            result = self.item.check(member, item_path, problems)
            if result is INVALID:
                ok = False
                continue
            if self.distinct:
                try:
                    first = seen.setdefault(result, index)
                except TypeError:
                    first = index
                if first != index:
                    problems.append((item_path, f"{describe(result)} is listed twice (also at [{first}])"))
                    ok = False
                    continue
            checked.append(result)
        return checked if ok else INVALID

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array", "items": self.item.json_schema()}
        if self.min_items:
            schema["minItems"] = self.min_items
        if self.max_items is not None:
            schema["maxItems"] = self.max_items
        if self.distinct:
            schema["uniqueItems"] = True
        return self._with_description(schema)


@dataclass(frozen=True)
class MappingOf(Shape):
    """An object whose keys are free names (checked by ``key``) and whose values share one shape."""

    value: Shape
    key: Shape = field(default_factory=lambda: Text(non_blank=True))
    min_items: int = 0
    description: str = ""

    def check(self, value: object, path: str, problems: list[Problem]) -> Any:
        if not isinstance(value, dict):
            problems.append((path, f"{describe(value)} is not an object"))
            return INVALID
        if len(value) < self.min_items:
            problems.append((path, f"must have at least {self.min_items} entries"))
            return INVALID
        checked: dict[Any, Any] = {}
        ok = True
        for key, member in value.items():
            member_path = join_path(path, str(key))
            if self.key.check(key, member_path, problems) is INVALID:
                ok = False
                continue
            result = self.value.check(member, member_path, problems)
            if result is INVALID:
                ok = False
            else:
                checked[key] = result
        return checked if ok else INVALID

    def json_schema(self) -> dict[str, Any]:
        return self._with_description({"type": "object", "additionalProperties": self.value.json_schema()})


@dataclass(frozen=True)
class Field:
    """A member of a record.

    ``required`` members may be neither absent nor null. Other members that are absent or null take
    ``default`` (``None`` means "unknown"), so a default is only ever given where the contract says so.
    """

    shape: Shape
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class Record(Shape):
    """An object with named members; unknown members are an error, with a suggestion when one is close.

    ``build`` turns the checked members into the caller's type (a frozen dataclass, a dict, ...).
    """

    fields: Mapping[str, Field]
    build: Callable[..., Any] = dict
    description: str = ""

    @cached_property
    def _members(
        self,
    ) -> tuple[tuple[str, bool, Any, Callable[[object, str, list[Problem]], Any], _AcceptedAsIs | None], ...]:
        """Each member's name, whether it is required, its default, its check and, for a yes/no or a
        choice, the values that pass as they are (so the common case needs no call and no path)."""
        return tuple(
            (name, spec.required, spec.default, spec.shape.check, _accepted_as_is(spec.shape))
            for name, spec in self.fields.items()
        )

    @cached_property
    def _accept(self) -> Callable[[dict[Any, Any]], Any]:
        """The check of an object whose every member passes as it is, as one function made for the record.

        It returns the built value, or ``_FULL_CHECK`` at the first member it does not accept: then the
        full check (below) names every problem. Made from the members' checks and the values they accept
        as they are, so it accepts nothing the full check would not, and builds the same value.
        """
        namespace: dict[str, Any] = {"_names": frozenset(self.fields), "_FULL_CHECK": _FULL_CHECK}
        namespace.update(INVALID=INVALID, _build=self.build, TooManyProblems=TooManyProblems)
        namespace["_no_problem"] = functools.partial(BoundedProblems, 0)
        lines = ["def accept(value):", "    if not value.keys() <= _names:", "        return _FULL_CHECK"]
        arguments = []
        for position, (name, required, default, check, as_is) in enumerate(self._members):
            member, held = f"m{position}", f"v{position}"
            namespace[f"_name{position}"], namespace[f"_default{position}"] = name, default
            namespace[f"_check{position}"] = check
            lines += [f"    {member} = value.get(_name{position})", f"    if {member} is None:"]
            lines.append("        return _FULL_CHECK" if required else f"        {held} = _default{position}")
            if as_is is not None:
                types, values, low, high, to_float = as_is
                namespace[f"_types{position}"], namespace[f"_values{position}"] = types, values
                namespace[f"_low{position}"], namespace[f"_high{position}"] = low, high
                if values is None:
                    accepted = f"_low{position} <= {member} <= _high{position}"
                else:
                    accepted = f"{member} in _values{position}"
                lines += [
                    f"    elif type({member}) in _types{position} and {accepted}:",
                    f"        {held} = {f'float({member})' if to_float else member}",
                ]
            # Any other value: its own check, whose problems (if any) the full check will report.
            # (A problem ends the quick check at once: a list of a hundred thousand wrong items is not
            # checked through twice.)
            lines += [
                "    else:",
                "        try:",
                f"            {held} = _check{position}({member}, '', _no_problem())",
                "        except TooManyProblems:",
                "            return _FULL_CHECK",
                f"        if {held} is INVALID:",
                "            return _FULL_CHECK",
            ]
            arguments.append(f"{name}={held}" if name.isidentifier() and not keyword.iskeyword(name) else "")
        if _slotted_record(self.build, list(self.fields)):
            # A frozen dataclass's __init__ sets each slot through object.__setattr__; setting the slots
            # directly builds the same object at a fraction of the cost.
            namespace["_new"] = object.__new__
            lines.append("    built = _new(_build)")
            for position, name in enumerate(self.fields):
                namespace[f"_set{position}"] = getattr(self.build, name).__set__
                lines.append(f"    _set{position}(built, v{position})")
            lines.append("    return built")
        elif all(arguments):
            lines.append(f"    return _build({', '.join(arguments)})")
        else:
            names = ", ".join(f"_name{i}: v{i}" for i in range(len(arguments)))
            lines.append(f"    return _build(**{{{names}}})")
        exec(compile("\n".join(lines), "<record check>", "exec"), namespace)  # made from the shapes only
        accept: Callable[[dict[Any, Any]], Any] = namespace["accept"]
        return accept

    def check(self, value: object, path: str, problems: list[Problem]) -> Any:
        if not isinstance(value, dict):
            problems.append((path, f"{describe(value)} is not an object"))
            return INVALID
        accepted = self._accept(value)
        if accepted is not _FULL_CHECK:
            return accepted
        return self.check_fully(value, path, problems)

    def check_fully(self, value: dict[Any, Any], path: str, problems: list[Problem]) -> Any:
        """Check every member of an object and name each problem: :meth:`check` without its quick path,
        which must agree with it on every value it accepts."""
        ok = True
        for key in value:
            if key not in self.fields:
                ok = False
                name = str(key)
                problems.append((join_path(path, _shown_name(name)), _unknown_member(name, self.fields)))
        members: dict[str, Any] = {}
        for name, required, default, check, as_is in self._members:
            member: Any = value.get(name)
            if member is None:
                if required:
                    problems.append((join_path(path, name), "is required"))
                    ok = False
                else:
                    members[name] = default
                continue
            if as_is is not None and type(member) in as_is[0]:
                if as_is[1] is None:
                    if as_is[2] <= member <= as_is[3]:
                        members[name] = float(member) if as_is[4] else member
                        continue
                elif member in as_is[1]:
                    members[name] = member
                    continue
            result = check(member, join_path(path, name), problems)
            if result is INVALID:
                ok = False
            else:
                members[name] = result
        if not ok:
            return INVALID
        return self.build(**members)

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {},
            "additionalProperties": False,
        }
        required = []
        for name, spec in self.fields.items():
            member = spec.shape.json_schema()
            if not spec.required:
                member = {"anyOf": [member, {"type": "null"}]}
                if spec.default is not None:
                    member["default"] = spec.default
            schema["properties"][name] = member
            if spec.required:
                required.append(name)
        if required:
            schema["required"] = required
        return self._with_description(schema)


_AcceptedAsIs = tuple[frozenset[type], frozenset[Any] | None, float, float, bool]

_FULL_CHECK: Final = object()
"""Returned by a record's quick check when a member needs the full check (to name its problems)."""


def _accepted_as_is(shape: Shape) -> _AcceptedAsIs | None:
    """What a member accepts without its full check: the types, and the values or the inclusive range
    (and whether to make it a float), for yes/no, choices and numbers; None for other shapes.

    Anything else still goes through the full check, which names the problem; this only spares the
    common, valid case a call.
    """
    everything = -math.inf, math.inf, False
    if isinstance(shape, Boolean):
        return frozenset({bool}), frozenset({True, False}), *everything
    if isinstance(shape, Choice) and all(isinstance(value, str) for value in shape.values):
        return frozenset({str}), frozenset(shape.values), *everything
    if isinstance(shape, Integer):
        low = -math.inf if shape.minimum is None else shape.minimum
        high = math.inf if shape.maximum is None else shape.maximum
        return frozenset({int}), None, low, high, False
    if isinstance(shape, Number) and not shape.exclusive_minimum:
        if shape.minimum is None or shape.maximum is None:
            return None  # an infinity would pass an open range: leave it to the full check
        return frozenset({int, float}), None, shape.minimum, shape.maximum, True
    return None


def _slotted_record(build: Callable[..., Any], names: list[str]) -> bool:
    """Whether ``build`` is a slotted dataclass whose ``__init__`` only sets these members, one a slot."""
    if not (isinstance(build, type) and dataclasses.is_dataclass(build) and "__slots__" in vars(build)):
        return False
    fields = dataclasses.fields(build)
    return (
        not hasattr(build, "__post_init__")
        and all(field.init for field in fields)
        and sorted(field.name for field in fields) == sorted(names)
    )


_LONGEST_NAME: Final = 100
"""A member name longer than this is shown shortened, and no known name is suggested for it (none of
the known names is near that long)."""


def _shown_name(key: str) -> str:
    """A member's name as a path shows it: a name of a megabyte is not sent back whole."""
    return key if len(key) <= _LONGEST_NAME else key[: _LONGEST_NAME - 3] + "..."


def _unknown_member(key: str, known: Sequence[str] | Mapping[str, Any]) -> str:
    if len(key) > _LONGEST_NAME:
        return "unknown field"
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
    if close:
        return f"unknown field (did you mean '{close[0]}'?)"
    return "unknown field"
