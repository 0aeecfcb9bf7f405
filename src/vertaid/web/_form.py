"""The case form: its controls made from the case model's shapes, and the mapping between form and case.

Every control is named by its member's path in the case model (``patient.age``, ``fractures[0].level``),
so a problem the case model reports (``fractures[0].level: 'L9' is not a vertebral level``) is shown next
to the control of the same name, and the form's words are the only thing written here by hand
(``case_form.yaml``). Which members exist, their kinds, choices, ranges, defaults and what is required all
come from :data:`vertaid.domain.case.CASE_SHAPE`.

The form reads values as text and hands them to the case model as they are, converted only where the
text is plainly a number, a yes/no or one of the choices: anything else goes through unchanged, so that
the case model, not the form, says what is wrong with it, in the words the CLI and the API use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, ClassVar, Final, Literal

import yaml

from vertaid.domain._shapes import (
    Boolean,
    Choice,
    Integer,
    ListOf,
    Number,
    Problem,
    Record,
    Shape,
    Text,
)
from vertaid.domain.case import CASE_SHAPE

__all__ = [
    "CONTROL_NAMES",
    "FormValues",
    "Group",
    "Input",
    "Repeated",
    "SummaryItem",
    "add_fracture",
    "build_form",
    "case_from_form",
    "control_id",
    "form_values",
    "fracture_count",
    "member_terms",
    "problem_summary",
    "remove_fracture",
    "slug",
    "words",
]

FormValues = Mapping[str, Sequence[str]]
"""A submitted form: each control's name and the values sent for it (several for a set of checkboxes)."""

CONTROL_NAMES: Final = frozenset({"csrf_token", "action"})
"""Names in the form that are not members of the case: the CSRF token and the button pressed."""

FRACTURES: Final = "fractures"

InputKind = Literal["whole", "number", "finding", "known", "choice", "choices", "text"]
"""``finding``: a yes/no that is false unless ticked (a checkbox); ``known``: a yes/no that may be unknown
(yes, no or not known); ``choices``: any of a set (checkboxes)."""


@dataclass(frozen=True, slots=True)
class Option:
    """One value a choice control offers: the text sent, and the words shown."""

    value: str
    label: str


@dataclass(frozen=True, slots=True)
class _Part:
    """A part of the form: a control, a record's fieldset or a list, named by its path in the case model
    (``fractures[0].level``), with its words and the problems reported at that path."""

    name: str
    """The path in the case model: the control's name, and where its problems are reported."""
    label: str
    help: str
    problems: tuple[str, ...]

    @property
    def id(self) -> str:
        """The element id: the name with brackets and dots made safe for a fragment."""
        return control_id(self.name)


@dataclass(frozen=True, slots=True)
class Input(_Part):
    """One control, for one member of the case."""

    node: ClassVar[str] = "input"
    kind: InputKind
    unit: str
    required: bool
    options: tuple[Option, ...]
    blank: str | None
    """The words of the empty choice ("Not known"), or None when the choice has a default instead."""
    range: str
    """The allowed values in words, from the shape ("18 to 120")."""
    values: tuple[str, ...]
    autofocus: bool = False

    @property
    def value(self) -> str:
        """The one value of a single-valued control, or an empty string."""
        return self.values[0] if self.values else ""


@dataclass(frozen=True, slots=True)
class Group(_Part):
    """A record of the case (the patient, the pain, one fracture...), shown as a fieldset."""

    node: ClassVar[str] = "group"
    members: tuple[Input | Group | Repeated, ...]
    index: int | None = None
    """The position of a list item (a fracture), from 0."""

    @property
    def entries(self) -> tuple[Input | Group | Repeated, ...]:
        """The members other than the yes/no findings, in the case model's order."""
        return tuple(m for m in self.members if not (isinstance(m, Input) and m.kind == "finding"))

    @property
    def findings(self) -> tuple[Input, ...]:
        """The yes/no findings (false unless ticked), shown together as "tick any that apply"."""
        return tuple(m for m in self.members if isinstance(m, Input) and m.kind == "finding")


@dataclass(frozen=True, slots=True)
class Repeated(_Part):
    """A list of records (the fractures): items added and removed within the case model's bounds."""

    node: ClassVar[str] = "list"
    item_label: str
    """What one item is called ("Fracture")."""
    items: tuple[Group, ...]
    min_items: int
    max_items: int | None

    @property
    def can_add(self) -> bool:
        """Whether another item is allowed."""
        return self.max_items is None or len(self.items) < self.max_items

    @property
    def can_remove(self) -> bool:
        """Whether an item may be removed."""
        return len(self.items) > self.min_items


Node = Input | Group | Repeated


@dataclass(frozen=True, slots=True)
class SummaryItem:
    """A problem as the summary above the form lists it: linked to the control it is shown beside."""

    path: str
    message: str
    target: str
    """The element id of the control or fieldset the problem is shown beside."""
    label: str


def problem_summary(form: Group, problems: Sequence[Problem]) -> list[SummaryItem]:
    """Every problem, in the order given, with the control it is shown beside (for the summary)."""
    nodes: dict[str, Node] = {}
    _index(form, nodes)
    items = []
    for path, message in problems:
        name = _nearest(path, set(nodes))
        node = nodes[name]
        label = node.label
        if "[" in name:  # say which fracture: "Fracture 2: Vertebral level"
            owner = nodes.get(name[: name.index("]") + 1])
            if owner is not None and owner is not node:
                label = f"{owner.label}: {label}"
        items.append(SummaryItem(path=path, message=message, target=node.id, label=label))
    return items


def _index(node: Node, nodes: dict[str, Node]) -> None:
    nodes[node.name] = node
    if isinstance(node, Group):
        for member in node.members:
            _index(member, nodes)
    elif isinstance(node, Repeated):
        for item in node.items:
            _index(item, nodes)


def slug(text: str) -> str:
    """Text made safe for an element id or a fragment (``fractures[0].level`` -> ``fractures-0-level``)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def control_id(name: str) -> str:
    """The element id of a control or fieldset named by a case path (``fractures[0].level`` ->
    ``case-fractures-0-level``)."""
    return "case-" + slug(name)


def _term(name: str) -> str:
    """A concrete path with its list positions as ``[]``: the key of the member's words."""
    return re.sub(r"\[\d+\]", "[]", name)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- the words -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Words:
    """A member's label, help, unit and the words of its choice values."""

    label: str
    help: str
    unit: str = ""
    choices: Mapping[str, str] = field(default_factory=dict)
    item: str = ""
    """For a list, what one item is called ("Fracture"), numbered from 1 in the form."""


@cache
def words() -> Mapping[str, Words]:
    """The form's words for each member, by term (``fractures[].level``), from ``case_form.yaml``."""
    text = (resources.files("vertaid.web") / "case_form.yaml").read_text(encoding="utf-8")
    raw: dict[str, dict[str, Any]] = yaml.safe_load(text)
    return {
        term: Words(
            label=str(entry["label"]),
            help=str(entry.get("help", "")),
            unit=str(entry.get("unit", "")),
            choices={str(value): str(label) for value, label in (entry.get("choices") or {}).items()},
            item=str(entry.get("item", "")),
        )
        for term, entry in raw.items()
    }


def member_terms(shape: Record = CASE_SHAPE, path: str = "") -> list[str]:
    """Every member of the case model as a term (list items as ``[]``), records before their members."""
    terms: list[str] = []
    for key, spec in shape.fields.items():
        term = _join(path, key)
        terms.append(term)
        inner = spec.shape
        if isinstance(inner, ListOf) and isinstance(inner.item, Record):
            terms += member_terms(inner.item, f"{term}[]")
        elif isinstance(inner, Record):
            terms += member_terms(inner, term)
    return terms


def _choice_label(term: str, value: object) -> str:
    given = words()[term].choices.get(str(value))
    if given is not None:
        return given
    text = str(value).replace("_", " ")
    return text if text[:1].isupper() else text.capitalize()


# --- case to form and form to case ---------------------------------------------------------------


def form_values(case: Mapping[str, Any]) -> dict[str, list[str]]:
    """The form's values that stand for a valid case (to start a new case from a stored one)."""
    values: dict[str, list[str]] = {}
    _write(CASE_SHAPE, "", case, values)
    return values


def _write(shape: Record, path: str, document: Mapping[str, Any], values: dict[str, list[str]]) -> None:
    for key, spec in shape.fields.items():
        value = document.get(key)
        if value is None:
            continue
        name = _join(path, key)
        inner = spec.shape
        if isinstance(inner, ListOf) and isinstance(inner.item, Record):
            for index, item in enumerate(value):
                _write(inner.item, f"{name}[{index}]", item, values)
        elif isinstance(inner, Record):
            _write(inner, name, value, values)
        elif isinstance(inner, ListOf):
            values[name] = [str(member) for member in value]
        elif isinstance(inner, Boolean):
            values[name] = ["true" if value else "false"]
        elif isinstance(inner, Number) and isinstance(value, float) and value.is_integer():
            values[name] = [str(int(value))]
        else:
            values[name] = [str(value)]


_WHOLE: Final = re.compile(r"[+-]?\d+")
_DECIMAL: Final = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def case_from_form(values: FormValues) -> tuple[dict[str, Any], list[Problem]]:
    """The case a submitted form stands for, and a problem for each name in it that is no member.

    Blank controls are left out (unknown); the case is not checked here: the case model checks it.
    """
    used: set[str] = set()
    case = _read_record(CASE_SHAPE, "", values, used)
    unknown = [
        (name, "unknown field")
        for name in values
        if name not in used and name not in CONTROL_NAMES and any(v.strip() for v in values[name])
    ]
    return case, unknown


def _read_record(shape: Record, path: str, values: FormValues, used: set[str]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, spec in shape.fields.items():
        name = _join(path, key)
        inner = spec.shape
        value: Any
        if isinstance(inner, ListOf) and isinstance(inner.item, Record):
            item = inner.item
            value = [_read_record(item, f"{name}[{i}]", values, used) for i in _positions(values, name)]
            if not value and not spec.required:
                continue
        elif isinstance(inner, Record):
            value = _read_record(inner, name, values, used)
            if not value and not spec.required:
                continue
        elif isinstance(inner, ListOf):
            used.add(name)
            value = [_read_value(inner.item, text) for text in values.get(name, ()) if text.strip()]
            if not value:
                continue
        else:
            used.add(name)
            texts = [text for text in values.get(name, ()) if text.strip()]
            if not texts:
                continue
            value = _read_value(inner, texts[0])
        document[key] = value
    return document


def _read_value(shape: Shape, text: str) -> object:
    """One control's text as the case model's value where it plainly is one; otherwise the text itself,
    for the case model to name the problem."""
    text = text.strip()
    if isinstance(shape, Integer | Number):
        if _WHOLE.fullmatch(text):
            return int(text)
        if isinstance(shape, Number) and _DECIMAL.fullmatch(text):
            return float(text)
        if isinstance(shape, Integer) and _DECIMAL.fullmatch(text):
            return float(text)  # the case model takes 12.0 as 12 and names 12.5 as not whole
        return text
    if isinstance(shape, Boolean):
        return {"true": True, "false": False}.get(text, text)
    if isinstance(shape, Choice):
        for value in shape.values:
            if str(value) == text:
                return value
        return text
    return text


def _positions(values: Iterable[str], name: str) -> list[int]:
    """The list positions that controls in the form are named with under ``name`` (``fractures[2]...``)."""
    pattern = re.compile(rf"{re.escape(name)}\[(\d+)\]\.")
    return sorted({int(match.group(1)) for key in values if (match := pattern.match(key))})


def fracture_count(values: FormValues) -> int:
    """How many fractures a submitted form holds."""
    positions = _positions(values, FRACTURES)
    return max(positions) + 1 if positions else 0


def add_fracture(values: FormValues) -> tuple[dict[str, list[str]], int]:
    """The form with one more, blank, fracture; and how many fractures it then has."""
    return {name: list(texts) for name, texts in values.items()}, fracture_count(values) + 1


def remove_fracture(values: FormValues, index: int) -> tuple[dict[str, list[str]], int]:
    """The form without the fracture at ``index``, the later ones moved up; and how many are left."""
    count = fracture_count(values)
    pattern = re.compile(rf"{FRACTURES}\[(\d+)\]\.(.*)", re.DOTALL)
    kept: dict[str, list[str]] = {}
    for name, texts in values.items():
        match = pattern.fullmatch(name)
        if match is None:
            kept[name] = list(texts)
            continue
        position = int(match.group(1))
        if position == index:
            continue
        moved = position - 1 if position > index else position
        kept[f"{FRACTURES}[{moved}].{match.group(2)}"] = list(texts)
    return kept, max(count - 1, 0) if 0 <= index < count else count


# --- the form to show ----------------------------------------------------------------------------


def build_form(
    values: FormValues,
    problems: Sequence[Problem] = (),
    *,
    fractures: int | None = None,
    focus: str | None = None,
) -> Group:
    """The whole form, filled with ``values``, each problem beside the control or fieldset it names.

    Args:
        values: the form's values (as submitted, or from :func:`form_values`).
        problems: the case model's problems, by path; a path with no control of its own (an item of a
            list of checkboxes, say) is shown at the nearest enclosing control or fieldset.
        fractures: how many fractures to show; by default as many as the values hold, and at least one.
        focus: the name of the control to focus when the form is shown (after adding a fracture).
    """
    count = fractures if fractures is not None else max(fracture_count(values), 1)
    names = _names(CASE_SHAPE, "", count)
    by_name: dict[str, list[str]] = {}
    for path, message in problems:
        by_name.setdefault(_nearest(path, names), []).append(message)
    return _Filling(values, by_name, count, focus).group(CASE_SHAPE, "", "", None, required=True)


def _names(shape: Record, path: str, count: int) -> set[str]:
    names = {path}
    for key, spec in shape.fields.items():
        name = _join(path, key)
        names.add(name)
        inner = spec.shape
        if isinstance(inner, ListOf) and isinstance(inner.item, Record):
            for index in range(count):
                names |= _names(inner.item, f"{name}[{index}]", count)
        elif isinstance(inner, Record):
            names |= _names(inner, name, count)
    return names


def _nearest(path: str, names: set[str]) -> str:
    """The closest name in the form to a problem's path (the path itself when it has a control)."""
    path = "" if path == "$" else path
    while path not in names:
        shorter = re.sub(r"(\[\d+\]|\.[^.\[]+|^[^.\[]+)$", "", path)
        if shorter == path:
            return ""
        path = shorter
    return path


@dataclass(frozen=True, slots=True)
class _Filling:
    """Makes the form's nodes from the shapes, filled with the values and problems of one showing."""

    values: FormValues
    problems: Mapping[str, list[str]]
    count: int
    """How many fractures to show."""
    focus: str | None

    def group(self, shape: Record, name: str, term: str, index: int | None, *, required: bool) -> Group:
        """A record's fieldset; ``required`` says whether the record must be given (a member required
        only when its record is given, such as a morphometry height, is not shown as required)."""
        members: list[Node] = []
        for key, spec in shape.fields.items():
            member, member_term = _join(name, key), _join(term, key)
            inner = spec.shape
            needed = required and spec.required
            if isinstance(inner, ListOf) and isinstance(inner.item, Record):
                members.append(self.repeated(inner, member, member_term, required=needed))
            elif isinstance(inner, Record):
                members.append(self.group(inner, member, member_term, None, required=needed))
            else:
                members.append(self.input(inner, member, member_term, required=needed, default=spec.default))
        if index is not None:  # an item of a list: "Fracture 2"
            text = Words(label=f"{words()[term.removesuffix('[]')].item} {index + 1}", help="")
        else:
            text = words()[term] if term else Words(label="The case", help="")
        return Group(
            name=name,
            label=text.label,
            help=text.help,
            members=tuple(members),
            problems=tuple(self.problems.get(name, ())),
            index=index,
        )

    def repeated(self, shape: ListOf, name: str, term: str, *, required: bool) -> Repeated:
        """A list of records, with as many items as the form shows."""
        assert isinstance(shape.item, Record)
        text = words()[term]
        items = tuple(
            self.group(shape.item, f"{name}[{i}]", f"{term}[]", i, required=required)
            for i in range(self.count)
        )
        return Repeated(
            name=name,
            label=text.label,
            item_label=text.item,
            help=text.help,
            items=items,
            min_items=shape.min_items,
            max_items=shape.max_items,
            problems=tuple(self.problems.get(name, ())),
        )

    def input(self, shape: Shape, name: str, term: str, *, required: bool, default: object) -> Input:
        """The control of one member, its kind and choices from the member's shape."""
        text = words()[term]
        kind: InputKind
        options: tuple[Option, ...] = ()
        blank: str | None = None
        shown = tuple(self.values.get(name, ()))
        if isinstance(shape, Integer):
            kind = "whole"
        elif isinstance(shape, Number):
            kind = "number"
        elif isinstance(shape, Boolean):
            kind = "finding" if default is False else "known"
            if kind == "known":
                options = (Option("true", "Yes"), Option("false", "No"))
                blank = "Not known"
        elif isinstance(shape, Choice):
            kind = "choice"
            options = tuple(Option(str(v), _choice_label(term, v)) for v in shape.values)
            if default is None:
                blank = "Choose one" if required else "Not known"
            elif not shown:
                shown = (str(default),)
        elif isinstance(shape, ListOf) and isinstance(shape.item, Choice):
            kind = "choices"
            options = tuple(Option(str(v), _choice_label(term, v)) for v in shape.item.values)
        elif isinstance(shape, Text):
            kind = "text"
        else:  # pragma: no cover - the case model has no other kind of member
            raise TypeError(f"no form control for {name}: {type(shape).__name__}")
        return Input(
            name=name,
            kind=kind,
            label=text.label,
            help=text.help,
            unit=text.unit,
            required=required,
            options=options,
            blank=blank,
            range=_range(shape),
            values=shown,
            problems=tuple(self.problems.get(name, ())),
            autofocus=name == self.focus,
        )


def _range(shape: Shape) -> str:
    """The allowed values of a number or a text, in words, from its shape."""
    if isinstance(shape, Integer | Number):
        low, high = shape.minimum, shape.maximum
        whole = "a whole number" if isinstance(shape, Integer) else "a number"
        if low is not None and high is not None:
            above = "above" if isinstance(shape, Number) and shape.exclusive_minimum else "from"
            return f"{whole} {above} {_fmt(low)} to {_fmt(high)}"
        return whole
    if isinstance(shape, Text) and shape.max_length is not None:
        return f"at most {shape.max_length} characters"
    return ""


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)
