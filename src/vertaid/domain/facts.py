"""The facts that the policy's conditions read: the case's own members and a few derived ones.

The list of facts is derived from the case shapes, so a member added to ``vertaid.case/1`` becomes
testable by the pack without a second list to keep in step. Derived facts per fracture:

- ``acuity`` — ``unhealed``, ``healed`` or ``unknown`` (policy §1, classified by the pack);
- ``height_loss_percent`` — as given, else from six-point morphometry (policy §5);
- ``is_target`` — the fracture is one the policy would treat (it is unhealed).
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Mapping
from typing import Any, Final

from vertaid.domain._shapes import Boolean, Choice, Integer, ListOf, Number, Record, Shape
from vertaid.domain.case import (
    CONSERVATIVE_CARE_SHAPE,
    FRACTURE_SHAPE,
    PAIN_SHAPE,
    PATIENT_SHAPE,
    PREFERENCES_SHAPE,
    Case,
    Fracture,
)
from vertaid.domain.conditions import CASE, FRACTURE, FactSpec, Scope, Truth

__all__ = [
    "ACUITY_DERIVED",
    "ACUITY_VALUES",
    "FACTS",
    "CaseFacts",
    "FractureFacts",
    "Overlay",
    "fracture_input",
    "overlay",
    "targets_of",
]

ACUITY_VALUES: Final = ("unhealed", "healed", "unknown")


class FractureFacts:
    """One fracture as the policy sees it: the case's findings plus what the policy derives."""

    __slots__ = ("acuity", "fracture", "height_loss_percent", "index", "is_target", "level")

    def __init__(
        self,
        index: int,
        fracture: Fracture,
        acuity: str,
        height_loss_percent: float | None,
    ) -> None:
        self.index = index
        self.fracture = fracture
        self.level = fracture.level
        self.acuity = acuity
        self.height_loss_percent = height_loss_percent
        self.is_target = acuity == "unhealed"


_is_target = operator.attrgetter("is_target")


def targets_of(fractures: tuple[FractureFacts, ...]) -> tuple[FractureFacts, ...]:
    """The fractures the policy would treat (the unhealed ones), in case order."""
    return tuple(filter(_is_target, fractures))


class CaseFacts:
    """The case as the policy sees it, with its fractures and its target fractures."""

    __slots__ = (
        "case",
        "conservative_care",
        "fractures",
        "pain",
        "patient",
        "preferences",
        "rule_truths",
        "targets",
    )

    def __init__(self, case: Case, fractures: tuple[FractureFacts, ...]) -> None:
        self.case = case
        self.rule_truths: Mapping[str, Truth] = {}
        """The truths of the rules evaluated so far, which ``{rule: ID}`` reads instead of re-evaluating."""
        self.patient = case.patient
        self.pain = case.pain
        self.conservative_care = case.conservative_care
        self.preferences = case.preferences
        self.fractures = fractures
        self.targets = targets_of(fractures)


class Overlay:
    """An object that reads as a record (``base``) except for one member: a cheap "what if this were ...".

    Used to try other values of an unknown input without rebuilding the case. Made by :func:`overlay`;
    the member is a slot of its own, set again for each value tried.
    """

    __slots__ = ("_base",)

    def __init__(self, base: object) -> None:
        self._base = base


def _overlay_type(record: type[Any], member: str) -> type[Overlay]:
    # Every other member reads the base through a C getter: a rule reading it calls no Python code.
    namespace: dict[str, Any] = {
        field.name: property(operator.attrgetter(f"_base.{field.name}"))
        for field in dataclasses.fields(record)
        if field.name != member
    }
    namespace["__slots__"] = (member,)
    return type(f"{record.__name__}Overlay", (Overlay,), namespace)


_OVERLAY_TYPES: Final[dict[tuple[type[Any], str], type[Overlay]]] = {}
"""The overlay types made so far, by record type and member: a few dozen at most."""


def overlay(base: object, member: str) -> Any:
    """Return an overlay of ``base`` (a record of the case, a slotted dataclass) replacing ``member``.

    Set the member on the overlay (``setattr(view, member, value)``) before anything reads it.
    """
    key = (type(base), member)
    made = _OVERLAY_TYPES.get(key)
    if made is None:
        made = _OVERLAY_TYPES[key] = _overlay_type(*key)
    return made(base)


def _spec(name: str, scope: Scope, shape: Shape, attribute: str) -> FactSpec:
    if isinstance(shape, Boolean):
        return FactSpec(name, scope, "bool", attribute)
    if isinstance(shape, Integer | Number):
        return FactSpec(
            name, scope, "number", attribute, (), shape.minimum, shape.maximum, isinstance(shape, Integer)
        )
    if isinstance(shape, Choice):
        return FactSpec(name, scope, "choice", attribute, shape.values)
    if isinstance(shape, ListOf) and isinstance(shape.item, Choice):
        return FactSpec(name, scope, "list", attribute, shape.item.values)
    raise TypeError(f"fact {name!r} has a shape conditions cannot test")  # pragma: no cover


def _build_facts() -> dict[str, FactSpec]:
    facts: dict[str, FactSpec] = {}
    sections: tuple[tuple[str, Record], ...] = (
        ("patient", PATIENT_SHAPE),
        ("pain", PAIN_SHAPE),
        ("conservative_care", CONSERVATIVE_CARE_SHAPE),
        ("preferences", PREFERENCES_SHAPE),
    )
    for section, record in sections:
        for member, spec in record.fields.items():
            name = f"{section}.{member}"
            facts[name] = _spec(name, CASE, spec.shape, name)
    for member, spec in FRACTURE_SHAPE.fields.items():
        if isinstance(spec.shape, Record):
            continue  # morphometry is read through the derived height loss
        facts[member] = _spec(member, FRACTURE, spec.shape, f"fracture.{member}")
    height = FRACTURE_SHAPE.fields["height_loss_percent"].shape
    facts["height_loss_percent"] = _spec("height_loss_percent", FRACTURE, height, "height_loss_percent")
    facts["acuity"] = _spec("acuity", FRACTURE, Choice(ACUITY_VALUES), "acuity")
    facts["is_target"] = _spec("is_target", FRACTURE, Boolean(), "is_target")
    return facts


FACTS: Final[Mapping[str, FactSpec]] = _build_facts()
"""Every fact a condition may test, by name (``patient.t_score``, ``height_loss_percent``, ...)."""

ACUITY_DERIVED: Final = frozenset({"acuity", "is_target", "targets"})
"""The facts derived from each fracture's acuity, which the pack classifies from other facts."""


def fracture_input(name: str) -> bool:
    """Tell whether an input name is a member of each fracture (``cause``) or of the case (``pain.nrs``)."""
    return "." not in name
