"""Synthetic cases: ``vertaid synth N -o cases.jsonl --seed S`` writes N ``vertaid.case/1`` cases, one a line.

The cases are drawn from the distributions in ``synth_profile.yaml``, which are illustrative (for demos,
tests and benchmarks), not epidemiology. Every member of the case format appears, each enum value, each
yes/no, known and unknown (left out or JSON null). The same count and seed give the same bytes, with the
same versions of vertaid and NumPy.

How it is fast: each member's possible JSON fragments (``,"sex":"female"``) are written once, in a table;
a batch of cases is drawn with NumPy as one table index per member and case (a 16-bit random number
through a lookup table for each choice); neighbouring members are merged into one table of their
combined fragments while it stays small, so a case is about twenty fragments, gathered and joined in C.
A member whose object may have nothing before it also has fragments without the leading comma.

With ``invalid_fraction``, that share of the lines is deliberately broken, each in one of
:data:`INVALID_KINDS`, for demos of reject handling.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt
import yaml

from vertaid.domain._shapes import ROOT, Integer, ListOf, Number, Problem, Record, Shape
from vertaid.domain.case import (
    CASE_SHAPE,
    CONSERVATIVE_CARE_SHAPE,
    FRACTURE_SHAPE,
    LEVELS,
    MORPHOMETRY_SHAPE,
    PAIN_SHAPE,
    PATIENT_SHAPE,
    PREFERENCES_SHAPE,
)

__all__ = [
    "BATCH_SIZE",
    "INVALID_KINDS",
    "PROFILE_FILE",
    "ProfileError",
    "invalid_line_count",
    "load_profile",
    "synthesise_cases",
    "synthesise_jsonl",
    "write_cases",
]

PROFILE_FILE: Final = Path(__file__).with_name("synth_profile.yaml")
"""The generator's distribution settings (illustrative, not epidemiology)."""

BATCH_SIZE: Final = 20_000
"""Cases drawn at a time; batch ``b`` draws from a generator seeded with ``(seed, b)``. Part of the output's
identity: changing it changes the file a seed gives."""

INVALID_KINDS: Final = (
    "unknown_key",
    "out_of_range",
    "bad_level",
    "duplicate_level",
    "wrong_type",
    "malformed_json",
    "empty_line",
)
"""The ways a deliberately invalid line is broken, used in turn."""

_MERGE_LIMIT: Final = 1 << 14
"""Neighbouring members are merged into one fragment table while it has at most this many entries."""

Codes = npt.NDArray[np.integer[Any]]
Floats = npt.NDArray[np.float64]


class ProfileError(ValueError):
    """``synth_profile.yaml`` is not a usable profile; the message names the member."""


# -- the profile ---------------------------------------------------------------------------------------


_DRAW_BITS: Final = 16
"""A member is drawn from a 16-bit random number through a lookup table: probabilities are kept to 1/65536."""


def _draw_bits(rng: np.random.Generator, count: int) -> npt.NDArray[np.uint16]:
    return np.frombuffer(rng.bytes(2 * count), dtype=np.uint16)


def _lookup(probabilities: Sequence[float] | Floats, codes: Sequence[int] | None = None) -> Codes:
    """The table that turns a 16-bit random number into an outcome drawn with these probabilities
    (``codes[i]`` stands for outcome ``i``; by default its index)."""
    cumulative = np.cumsum(np.asarray(probabilities, dtype=np.float64))
    cumulative /= cumulative[-1]
    points = (np.arange(1 << _DRAW_BITS) + 0.5) / (1 << _DRAW_BITS)
    outcome = np.minimum(np.searchsorted(cumulative, points, side="right"), len(cumulative) - 1)
    return np.asarray(codes if codes is not None else np.arange(len(cumulative)), dtype=np.int32)[outcome]


@dataclass(frozen=True, slots=True)
class _Member:
    """One member of the case. Its fragments are ``,"key":value`` for each value, then ``""`` (left
    out), then ``,"key":null``; a draw gives one index per case into them. Where no member of its object
    may come before it, the same fragments follow without the leading comma (indices shifted by
    :attr:`size`)."""

    key: str
    values: tuple[str, ...]  # each value as JSON

    @property
    def absent_code(self) -> int:
        return len(self.values)

    @property
    def size(self) -> int:
        return len(self.values) + 2

    def fragments(self, comma: bool) -> tuple[str, ...]:
        lead = "," if comma else ""
        return (*(f'{lead}"{self.key}":{value}' for value in self.values), "", f'{lead}"{self.key}":null')


@dataclass(frozen=True, slots=True)
class _CategoricalMember(_Member):
    """A choice (or a subset of a list's items): one draw picks a value, or "left out", or null."""

    lookup: Codes

    def draw(self, rng: np.random.Generator, count: int) -> Codes:
        return self.lookup[_draw_bits(rng, count)]


@dataclass(frozen=True, slots=True)
class _NumberMember(_Member):
    """A number from a mixture of normal distributions, rounded and clipped to its range."""

    known: Codes  # lookup: -1 for a number, else "left out" or null
    component: Codes  # lookup: the mixture's component
    means: Floats
    sds: Floats
    lowest: int  # min and max in units of 10**-decimals
    highest: int
    scale: int

    def sample(self, rng: np.random.Generator, count: int) -> Floats:
        """Draw numbers from the mixture, before rounding and clipping."""
        component = self.component[_draw_bits(rng, count)]
        return self.means[component] + self.sds[component] * rng.standard_normal(count)

    def codes_of(self, numbers: Floats) -> Codes:
        """The fragment index of each number, rounded and clipped to the member's range."""
        steps = np.clip(np.rint(numbers * self.scale), self.lowest, self.highest)
        return steps.astype(np.int32) - self.lowest

    def value_of(self, codes: Codes) -> Floats:
        """The number each (known) code stands for."""
        return (codes + self.lowest) / self.scale

    def draw(self, rng: np.random.Generator, count: int) -> Codes:
        known = self.known[_draw_bits(rng, count)]
        return np.where(known < 0, self.codes_of(self.sample(rng, count)), known)


_Drawn = _CategoricalMember | _NumberMember


def _number_text(steps: int, decimals: int) -> str:
    return str(steps) if decimals == 0 else f"{steps / 10**decimals:.{decimals}f}"


def _probability(spec: Mapping[str, Any], name: str, where: str) -> float:
    value = spec.get(name, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ProfileError(f"{where}.{name}: must be a probability from 0 to 1")
    return float(value)


def _weights(spec: object, where: str) -> tuple[tuple[Any, ...], Floats]:
    """A ``{value: weight}`` mapping as its values and their probabilities."""
    if not isinstance(spec, dict) or not spec:
        raise ProfileError(f"{where}: must map each value to a weight")
    weights = np.array(list(spec.values()), dtype=np.float64)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise ProfileError(f"{where}: weights must be 0 or more, and not all 0")
    return tuple(spec), weights / weights.sum()


def _accepts(shape: Shape, value: object) -> bool:
    """Whether the case format accepts ``value`` for a member of this shape (its own check decides)."""
    problems: list[Problem] = []
    shape.check(value, ROOT, problems)
    return not problems


def _member(key: str, spec: object, shape: Shape, required: bool, where: str) -> _Drawn:
    """Build a member from its profile entry, checking it can only give values the case format accepts."""
    if not isinstance(spec, dict):
        raise ProfileError(f"{where}: must be a mapping with a kind")
    settings = {"kind", "absent", "as_null", "values", "mixture", "min", "max", "decimals", "items"}
    settings.add("only_female_below_age")
    if unknown := set(spec) - settings:
        raise ProfileError(f"{where}: unknown setting {sorted(unknown)[0]!r}")
    absent, null = _probability(spec, "absent", where), _probability(spec, "as_null", where)
    if absent + null > 1 or (required and absent + null > 0):
        raise ProfileError(f"{where}: absent + null must be at most 1, and 0 for a required member")
    kind = spec.get("kind")
    if kind == "choice":
        choices, probabilities = _weights(spec.get("values"), f"{where}.values")
        for choice in choices:
            if not _accepts(shape, choice):
                raise ProfileError(f"{where}.values: {choice!r} is not a value of this member")
        values = tuple(json.dumps(choice) for choice in choices)
        return _CategoricalMember(
            key, values, _lookup([*(probabilities * (1 - absent - null)), absent, null])
        )
    if kind == "number":
        low, high, decimals = spec.get("min"), spec.get("max"), spec.get("decimals", 0)
        if not (isinstance(low, int | float) and isinstance(high, int | float) and low <= high):
            raise ProfileError(f"{where}: min and max must be numbers, min <= max")
        if (
            not isinstance(decimals, int)
            or not 0 <= decimals <= 3
            or (isinstance(shape, Integer) and decimals)
        ):
            raise ProfileError(f"{where}.decimals: must be 0 to 3 (0 for a whole number)")
        if not (_accepts(shape, low) and _accepts(shape, high)):
            raise ProfileError(f"{where}: min and max must lie within the case format's range")
        mixture = spec.get("mixture")
        if not isinstance(mixture, list) or not mixture or not all(isinstance(c, dict) for c in mixture):
            raise ProfileError(f"{where}.mixture: must be a list of {{weight, mean, sd}}")
        _, weights = _weights({i: c.get("weight") for i, c in enumerate(mixture)}, f"{where}.mixture")
        means = np.array([c.get("mean") for c in mixture], dtype=np.float64)
        sds = np.array([c.get("sd") for c in mixture], dtype=np.float64)
        if not (np.all(np.isfinite(means)) and np.all(np.isfinite(sds)) and np.all(sds >= 0)):
            raise ProfileError(f"{where}.mixture: each mean and sd must be a number, sd 0 or more")
        scale = 10**decimals
        lowest, highest = round(low * scale), round(high * scale)
        values = tuple(_number_text(steps, decimals) for steps in range(lowest, highest + 1))
        size = highest - lowest + 1
        known = _lookup([1 - absent - null, absent, null], [-1, size, size + 1])
        return _NumberMember(key, values, known, _lookup(weights), means, sds, lowest, highest, scale)
    if kind == "subset":
        items = spec.get("items")
        if not (isinstance(shape, ListOf) and isinstance(items, dict)):
            raise ProfileError(f"{where}: a subset needs items, for a list")
        for item in items:
            if not _accepts(shape, [item]):
                raise ProfileError(f"{where}.items: {item!r} is not a value of this list")
        names = tuple(items)
        held = [_probability(items, name, f"{where}.items") for name in names]
        masks = range(1 << len(names))
        values = tuple(
            json.dumps([name for bit, name in enumerate(names) if mask >> bit & 1], separators=(",", ":"))
            for mask in masks
        )
        chances = [
            math.prod(p if mask >> bit & 1 else 1 - p for bit, p in enumerate(held)) * (1 - absent - null)
            for mask in masks
        ]
        return _CategoricalMember(key, values, _lookup([*chances, absent, null]))
    raise ProfileError(f"{where}.kind: must be choice, number or subset")


@dataclass(frozen=True, slots=True)
class _Slot:
    """One place in a line: its possible fragments, and which drawn codes pick one (``""``: always the
    first, for constant text)."""

    fragments: tuple[str, ...]
    source: str = ""


@dataclass(frozen=True, slots=True)
class _Block:
    """Neighbouring slots merged: every combination of their fragments, and how to combine their codes."""

    fragments: tuple[str, ...]
    sources: tuple[tuple[str, int], ...]  # (source, multiplier); constants contribute nothing


def _merge(slots: Sequence[_Slot]) -> tuple[_Block, ...]:
    blocks: list[_Block] = []
    fragments: tuple[str, ...] = ("",)
    sources: list[tuple[str, int]] = []
    for slot in slots:
        if len(fragments) * len(slot.fragments) > _MERGE_LIMIT:
            blocks.append(_Block(fragments, tuple(sources)))
            fragments, sources = ("",), []
        size = len(slot.fragments)
        sources = [(source, multiplier * size) for source, multiplier in sources]
        if slot.source:
            sources.append((slot.source, 1))
        fragments = tuple(head + tail for head in fragments for tail in slot.fragments)
    blocks.append(_Block(fragments, tuple(sources)))
    return tuple(blocks)


def _object_slots(key: str, members: Sequence[_Slot]) -> list[_Slot]:
    """An optional object after another member: opened, its members, closed; left out or null as its
    ``key`` code says (0 present, 1 left out, 2 null)."""
    return [_Slot((f',"{key}":{{', "", f',"{key}":null'), key), *members, _Slot(("}", "", ""), key)]


_CommaRule = tuple[str, tuple[tuple[str, int], ...], int]
"""A member that takes no leading comma when no member before it in its object is present: its path,
each earlier member's path and "left out" code, and the shift to its fragments without the comma."""


def _member_slots(members: Sequence[tuple[str, _Member, bool]]) -> tuple[list[_Slot], list[_CommaRule]]:
    """The slots of an object's members (path, member, required), in order, and the comma rules they need."""
    slots: list[_Slot] = []
    rules: list[_CommaRule] = []
    first_required = bool(members) and members[0][2]
    for index, (path, member, _) in enumerate(members):
        if index == 0:
            slots.append(_Slot(member.fragments(comma=False), path))
        elif first_required:
            slots.append(_Slot(member.fragments(comma=True), path))
        else:
            slots.append(_Slot(member.fragments(comma=True) + member.fragments(comma=False), path))
            earlier = tuple((earlier_path, m.absent_code) for earlier_path, m, _ in members[:index])
            rules.append((path, earlier, member.size))
    return slots, rules


@dataclass(frozen=True, slots=True)
class _Layout:
    """One kind of line segment (the case before its fractures, a fracture, the case after them): for
    each block, where its fragments start in the pool and how its index is made from the drawn codes."""

    blocks: tuple[tuple[int, tuple[tuple[str, int], ...]], ...]

    def indices(self, codes: Mapping[str, Codes], rows: int) -> npt.NDArray[np.int32]:
        """The pool index of each block's fragment, one row per segment."""
        table = np.empty((len(self.blocks), rows), dtype=np.int32)
        for row, (base, sources) in enumerate(self.blocks):
            table[row] = base
            for source, multiplier in sources:
                table[row] += codes[source] * multiplier
        return table.T


def _layouts(*segments: tuple[_Block, ...]) -> tuple[npt.NDArray[np.object_], tuple[_Layout, ...]]:
    """Put every block's fragments in one pool, and lay out each segment's blocks in it."""
    fragments: list[str] = []
    layouts: list[_Layout] = []
    for blocks in segments:
        placed = []
        for block in blocks:
            placed.append((len(fragments), block.sources))
            fragments.extend(block.fragments)
        layouts.append(_Layout(tuple(placed)))
    pool = np.empty(len(fragments), dtype=object)
    pool[:] = fragments
    return pool, tuple(layouts)


@dataclass(frozen=True, eq=False)
class _Profile:
    """The checked profile and the line layout built from it."""

    id_prefix: str
    members: Mapping[str, _Drawn]  # by path: "patient.age", "fractures.cause", ...
    objects: Mapping[str, tuple[float, float]]  # optional objects' (absent, null)
    comma_rules: tuple[_CommaRule, ...]
    pregnant_below_age: float | None
    count: Codes  # lookup: fractures per case, less 1
    level: Codes  # lookup: a level by weight
    level_weights: Floats
    height_reporting: Codes  # lookup: percent, morphometry, both, neither
    not_given_as_null: float
    both_disagreement_sd: float
    height: _NumberMember
    deformity: Codes  # lookup: wedge, biconcave, crush (which height is smallest)
    other_heights_max_share: float
    morphometry: Mapping[str, _NumberMember]  # anterior, middle, posterior, reference_posterior
    pool: npt.NDArray[np.object_]  # every fragment; a batch appends its ids
    head: _Layout  # per case, after the id, up to its fractures
    fracture: _Layout
    tail: _Layout


_SECTIONS: Final[Mapping[str, Record]] = {
    "patient": PATIENT_SHAPE,
    "pain": PAIN_SHAPE,
    "conservative_care": CONSERVATIVE_CARE_SHAPE,
    "fractures": FRACTURE_SHAPE,
    "preferences": PREFERENCES_SHAPE,
}
_OPTIONAL_OBJECTS: Final = ("conservative_care", "preferences")
_FRACTURE_SETTINGS: Final = frozenset(
    {
        "count",
        "level_weights",
        "height_reporting",
        "not_given_as_null",
        "height_loss",
        "both_disagreement_sd",
        "morphometry",
    }
)
_FRACTURES_SHAPE: Final = CASE_SHAPE.fields["fractures"].shape
assert isinstance(_FRACTURES_SHAPE, ListOf) and _FRACTURES_SHAPE.max_items is not None
_MAX_FRACTURES: Final = min(_FRACTURES_SHAPE.max_items, len(LEVELS))


def _categories(spec: object, expected: tuple[Any, ...] | None, where: str) -> Codes:
    """The lookup table of a ``{value: weight}`` setting whose values must be ``expected``, in order."""
    values, probabilities = _weights(spec, where)
    if expected is not None and values != expected:
        raise ProfileError(
            f"{where}: must give a weight for each of {', '.join(map(str, expected))}, in order"
        )
    return _lookup(probabilities)


@cache
def load_profile(file: Path = PROFILE_FILE) -> _Profile:
    """Read and check a profile; the layout of a line follows the case format's member order."""
    document = yaml.safe_load(file.read_text("utf-8"))
    if not isinstance(document, dict):
        raise ProfileError(f"{file.name}: must be a mapping")
    if unknown := set(document) - {"id_prefix", *_SECTIONS}:
        raise ProfileError(f"unknown section {sorted(unknown)[0]!r}")
    for name, record in _SECTIONS.items():
        section = document.get(name)
        if not isinstance(section, dict):
            raise ProfileError(f"{name}: missing")
        extra = {"absent", "as_null"} if name in _OPTIONAL_OBJECTS else set()
        extra |= _FRACTURE_SETTINGS if name == "fractures" else set()
        if unknown := set(section) - set(record.fields) - extra:
            raise ProfileError(f"{name}: {sorted(unknown)[0]!r} is not a member of the case")
    fractures = document["fractures"]

    # The height loss, the levels and the morphometry are drawn together, not from entries of their own.
    height = _member(
        "height_loss_percent",
        fractures.get("height_loss"),
        FRACTURE_SHAPE.fields["height_loss_percent"].shape,
        True,
        "fractures.height_loss",
    )
    morphometry_spec = fractures.get("morphometry")
    if not isinstance(morphometry_spec, dict) or not isinstance(height, _NumberMember):
        raise ProfileError("fractures.morphometry and fractures.height_loss (a number) are needed")
    heights: dict[str, _NumberMember] = {}
    for key, field in MORPHOMETRY_SHAPE.fields.items():
        shape = field.shape
        assert isinstance(shape, Number)
        spec: dict[str, Any] = {"kind": "number", "mixture": [{"weight": 1, "mean": 0, "sd": 0}]}
        if key == "reference_posterior":
            spec = dict(morphometry_spec.get("reference_posterior") or {})
        else:  # no height exceeds the reference
            spec.update(min=0, max=(morphometry_spec.get("reference_posterior") or {}).get("max"))
        spec["decimals"] = morphometry_spec.get("decimals", 1)
        built = _member(key, spec, shape, True, f"fractures.morphometry.{key}")
        assert isinstance(built, _NumberMember)
        heights[key] = built
    levels = _Member("level", tuple(json.dumps(level) for level in LEVELS))

    members: dict[str, _Drawn] = {}
    rules: list[_CommaRule] = []
    slots: dict[str, list[_Slot]] = {}
    for name, record in _SECTIONS.items():
        ordered: list[tuple[str, _Member, bool]] = []
        for key, field in record.fields.items():
            path = f"{name}.{key}"
            if path == "fractures.level":
                ordered.append((path, levels, True))
            elif path == "fractures.height_loss_percent":
                ordered.append((path, height, False))
            elif path == "fractures.morphometry_mm":
                ordered.append((path, _Member("", ()), False))  # a place holder, replaced below
            elif key not in document[name]:
                raise ProfileError(f"{path}: missing (every member of the case has an entry)")
            else:
                members[path] = _member(key, document[name][key], field.shape, field.required, path)
                ordered.append((path, members[path], field.required))
        slots[name], object_rules = _member_slots(ordered)
        rules += object_rules
    morphometry_slots, _ = _member_slots([(f"morphometry.{key}", m, True) for key, m in heights.items()])
    fracture_slots = [_Slot(("{", ",{"), "fractures.later")]
    for slot in slots["fractures"]:
        is_object = slot.source == "fractures.morphometry_mm"
        fracture_slots += _object_slots("morphometry_mm", morphometry_slots) if is_object else [slot]
    fracture_slots.append(_Slot(("}",)))
    # The id's last three digits (zero-padded unless they are the whole number); the batch adds the rest.
    id_ends = (*(f'{low:03d}"' for low in range(1000)), *(f'{low}"' for low in range(1000)))
    head = [
        _Slot(id_ends, "id.end"),
        _Slot((',"patient":{',)),
        *slots["patient"],
        _Slot(('},"pain":{',)),
        *slots["pain"],
        _Slot(("}",)),
        *_object_slots("conservative_care", slots["conservative_care"]),
        _Slot((',"fractures":[',)),
    ]
    tail = [_Slot(("]",)), *_object_slots("preferences", slots["preferences"]), _Slot(("}\n",))]
    pool, (head_layout, fracture_layout, tail_layout) = _layouts(
        _merge(head), _merge(fracture_slots), _merge(tail)
    )

    count_weights = fractures.get("count")
    if not isinstance(count_weights, dict) or not 0 < len(count_weights) <= _MAX_FRACTURES:
        raise ProfileError(f"fractures.count: must weigh each count from 1 to at most {_MAX_FRACTURES}")
    count_lookup = _categories(count_weights, tuple(range(1, len(count_weights) + 1)), "fractures.count")
    level_lookup = _categories(fractures.get("level_weights"), LEVELS, "fractures.level_weights")
    _, level_weights = _weights(fractures["level_weights"], "fractures.level_weights")
    if np.unique(level_lookup).shape[0] < len(count_weights):
        raise ProfileError("fractures.level_weights: too few levels can be drawn for the largest count")
    share = morphometry_spec.get("other_heights_max_share")
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share < 1:
        raise ProfileError("fractures.morphometry.other_heights_max_share: must be from 0 to below 1")
    disagreement = fractures.get("both_disagreement_sd")
    if isinstance(disagreement, bool) or not isinstance(disagreement, int | float) or disagreement < 0:
        raise ProfileError("fractures.both_disagreement_sd: must be a number, 0 or more")
    pregnant = document["patient"]["pregnant"].get("only_female_below_age")
    if pregnant is not None and (isinstance(pregnant, bool) or not isinstance(pregnant, int | float)):
        raise ProfileError("patient.pregnant.only_female_below_age: must be an age")
    id_prefix = document.get("id_prefix", "synth")
    if not isinstance(id_prefix, str) or not re.fullmatch(r"[\w.-]{1,40}", id_prefix, re.ASCII):
        raise ProfileError("id_prefix: must be 1 to 40 letters, digits, '.', '_' or '-'")
    return _Profile(
        id_prefix=id_prefix,
        members=members,
        objects={
            name: (
                _probability(document[name], "absent", name),
                _probability(document[name], "as_null", name),
            )
            for name in _OPTIONAL_OBJECTS
        },
        comma_rules=tuple(rules),
        pregnant_below_age=None if pregnant is None else float(pregnant),
        count=count_lookup,
        level=level_lookup,
        level_weights=level_weights,
        height_reporting=_categories(
            fractures.get("height_reporting"),
            ("percent", "morphometry", "both", "neither"),
            "fractures.height_reporting",
        ),
        not_given_as_null=_probability(fractures, "not_given_as_null", "fractures"),
        both_disagreement_sd=float(disagreement),
        height=height,
        deformity=_categories(
            morphometry_spec.get("deformity"),
            ("wedge", "biconcave", "crush"),
            "fractures.morphometry.deformity",
        ),
        other_heights_max_share=float(share),
        morphometry=heights,
        pool=pool,
        head=head_layout,
        fracture=fracture_layout,
        tail=tail_layout,
    )


# -- drawing a batch -----------------------------------------------------------------------------------

_PRESENT, _ABSENT, _NULL = 0, 1, 2


def _states(rng: np.random.Generator, count: int, absent: float, null: float) -> Codes:
    """For an optional object: present (0), left out (1) or null (2), in the given shares."""
    draw = rng.random(count)
    return np.where(draw < absent, _ABSENT, np.where(draw < absent + null, _NULL, _PRESENT)).astype(np.int32)


_FEW_FRACTURES: Final = 3
"""Cases with this many fractures or fewer draw their levels one by one; others all at once."""


def _draw_levels(profile: _Profile, rng: np.random.Generator, count: int) -> tuple[Codes, Codes]:
    """Each case's number of fractures, and their distinct levels: case by case, from the skull down.

    Levels are drawn by weight without replacement: for a case with few fractures, one after another,
    a level already drawn being drawn again; for the others, by the Gumbel top-k trick (the same
    distribution, in one step)."""
    per_case = 1 + profile.count[_draw_bits(rng, count)]
    chosen = np.zeros((count, len(LEVELS)), dtype=bool)
    rows = np.flatnonzero(per_case <= _FEW_FRACTURES)
    for drawn in range(_FEW_FRACTURES):
        rows = rows[per_case[rows] > drawn]
        pending = rows
        while pending.shape[0]:
            levels = profile.level[_draw_bits(rng, pending.shape[0])]
            fresh = ~chosen[pending, levels]
            chosen[pending[fresh], levels[fresh]] = True
            pending = pending[~fresh]
    many = np.flatnonzero(per_case > _FEW_FRACTURES)
    with np.errstate(divide="ignore"):
        keys = np.log(profile.level_weights) + rng.gumbel(size=(many.shape[0], len(LEVELS)))
    order = np.argsort(-keys, axis=1, kind="stable")
    picked = np.zeros(keys.shape, dtype=bool)
    np.put_along_axis(picked, order, np.arange(len(LEVELS)) < per_case[many, None], axis=1)
    chosen[many] = picked
    return per_case, np.nonzero(chosen)[1].astype(np.int32)


def _draw_cases(profile: _Profile, rng: np.random.Generator, count: int) -> tuple[dict[str, Codes], Codes]:
    """Every member's codes for ``count`` cases and their fractures, and each case's number of fractures."""
    codes: dict[str, Codes] = {}
    for path, member in profile.members.items():
        if not path.startswith("fractures."):
            codes[path] = member.draw(rng, count)
    if profile.pregnant_below_age is not None:
        age, sex = profile.members["patient.age"], profile.members["patient.sex"]
        assert isinstance(age, _NumberMember)
        female = sex.values.index('"female"') if '"female"' in sex.values else -1
        eligible = (codes["patient.sex"] == female) & (
            age.value_of(codes["patient.age"]) < profile.pregnant_below_age
        )
        codes["patient.pregnant"] = np.where(
            eligible, codes["patient.pregnant"], profile.members["patient.pregnant"].absent_code
        )
    for name, (absent, null) in profile.objects.items():
        state = codes[name] = _states(rng, count, absent, null)
        for path, member in profile.members.items():
            if path.startswith(name + "."):
                codes[path] = np.where(state == _PRESENT, codes[path], member.absent_code)

    per_case, levels = _draw_levels(profile, rng, count)
    fractures = levels.shape[0]
    codes["fractures.level"] = levels
    first_of_case = np.concatenate(([0], np.cumsum(per_case)[:-1]))
    later = np.ones(fractures, dtype=np.int32)
    later[first_of_case] = 0
    codes["fractures.later"] = later
    for path, member in profile.members.items():
        if path.startswith("fractures."):
            codes[path] = member.draw(rng, fractures)

    # The height loss: as a percentage, as morphometry, both (with some disagreement) or neither.
    height = profile.height
    mode = profile.height_reporting[_draw_bits(rng, fractures)]  # percent, morphometry, both, neither
    loss_codes = height.codes_of(height.sample(rng, fractures))
    loss = height.value_of(loss_codes)
    noisy = height.codes_of(loss + profile.both_disagreement_sd * rng.standard_normal(fractures))
    unknown = np.where(rng.random((2, fractures)) < profile.not_given_as_null, _NULL, _ABSENT)
    codes["fractures.height_loss_percent"] = np.where(
        mode == 0, loss_codes, np.where(mode == 2, noisy, height.absent_code - _ABSENT + unknown[0])
    )
    given = (mode == 1) | (mode == 2)
    codes["morphometry_mm"] = np.where(given, _PRESENT, unknown[1]).astype(np.int32)
    reference = profile.morphometry["reference_posterior"]
    reference_codes = reference.codes_of(reference.sample(rng, fractures))
    expected = reference.value_of(reference_codes)
    shares = rng.uniform(0, profile.other_heights_max_share, size=(fractures, 3))
    heights = expected[:, None] * (1 - loss[:, None] / 100 * shares)
    smallest = profile.deformity[_draw_bits(rng, fractures)]  # wedge, biconcave, crush
    heights[np.arange(fractures), smallest] = expected * (1 - loss / 100)
    heights_codes = (
        *(
            profile.morphometry[key].codes_of(heights[:, i])
            for i, key in enumerate(("anterior", "middle", "posterior"))
        ),
        reference_codes,
    )
    for (key, member), member_codes in zip(profile.morphometry.items(), heights_codes, strict=True):
        codes[f"morphometry.{key}"] = np.where(given, member_codes, member.absent_code)

    # A member with nothing before it in its object has no leading comma.
    for path, earlier, shift in reversed(profile.comma_rules):  # later first: earlier ones unshifted
        nothing_before = np.ones(codes[path].shape[0], dtype=bool)
        for earlier_path, absent_code in earlier:
            nothing_before &= codes[earlier_path] == absent_code
        codes[path] = codes[path] + shift * nothing_before
    return codes, per_case


def _batch_text(profile: _Profile, rng: np.random.Generator, first: int, count: int, seed: int) -> str:
    """The lines of cases ``first`` to ``first + count - 1``, each ending in a newline."""
    codes, per_case = _draw_cases(profile, rng, count)
    # The id, "<prefix>-<seed>-<number>": its start, then its last three digits (a member of the head).
    numbers = np.arange(first, first + count)
    thousands = numbers // 1000
    codes["id.end"] = numbers % 1000 + 1000 * (thousands == 0)
    lowest = int(thousands[0]) if count else 0
    starts_of_ids = np.empty(int(thousands[-1]) - lowest + 1 if count else 0, dtype=object)
    prefix = f'{{"id":"{profile.id_prefix}-{seed}-'
    starts_of_ids[:] = [
        prefix + (str(number) if number else "") for number in range(lowest, lowest + len(starts_of_ids))
    ]
    pool = np.concatenate((profile.pool, starts_of_ids))
    head = np.concatenate(
        (len(profile.pool) - lowest + thousands[:, None], profile.head.indices(codes, count)), axis=1
    )
    fractures = profile.fracture.indices(codes, int(per_case.sum()))
    tail = profile.tail.indices(codes, count)

    # Lay the fragments out in line order: each case's head, its fractures, its tail.
    width_head, width_fracture, width_tail = head.shape[1], fractures.shape[1], tail.shape[1]
    fractures_before = np.concatenate(([0], np.cumsum(per_case)[:-1]))
    starts = np.arange(count) * (width_head + width_tail) + fractures_before * width_fracture
    order = np.empty(head.size + fractures.size + tail.size, dtype=np.int32)
    order[(starts[:, None] + np.arange(width_head)).ravel()] = head.ravel()
    case_of = np.repeat(np.arange(count), per_case)
    within = np.arange(case_of.shape[0]) - fractures_before[case_of]
    fracture_starts = starts[case_of] + width_head + within * width_fracture
    order[(fracture_starts[:, None] + np.arange(width_fracture)).ravel()] = fractures.ravel()
    tail_starts = starts + width_head + per_case * width_fracture
    order[(tail_starts[:, None] + np.arange(width_tail)).ravel()] = tail.ravel()
    return "".join(pool[order].tolist())


# -- deliberately invalid lines ------------------------------------------------------------------------


def invalid_line_count(count: int, invalid_fraction: float) -> int:
    """How many of the first ``count`` lines are deliberately invalid (the fraction, rounded)."""
    return math.floor(invalid_fraction * count + 0.5)


def _break(line: str, kind: str, variant: int) -> str:
    """Make one valid line invalid in the given way (``variant`` picks among a few of each kind)."""
    if kind == "unknown_key":
        anchor, replacement = (
            ('"patient":{', '"patient":{"weight_kg":61,'),
            ('"pain":{', '"pain":{"nrs_score":7,'),
            ('{"id":', '{"notes":"synthetic","id":'),
            ('"level":', '"levle":'),
        )[variant % 4]
        return line.replace(anchor, replacement, 1)
    if kind == "out_of_range":
        pattern, replacement = (
            (r'"age":\d+', '"age":130'),
            (r'"age":\d+', '"age":17'),
            (r'"nrs":\d+', '"nrs":11'),
        )[variant % 3]
        return re.sub(pattern, replacement, line, count=1)
    if kind == "bad_level":
        level = ("L9", "T13", "C8", "S2", "l1")[variant % 5]
        return re.sub(r'"level":"[^"]*"', f'"level":"{level}"', line, count=1)
    if kind == "duplicate_level":
        case = json.loads(line)
        fractures = case["fractures"]
        if len(fractures) > 1:
            fractures[-1] = dict(fractures[-1], level=fractures[0]["level"])
        else:
            fractures.append(dict(fractures[0]))
        return json.dumps(case, separators=(",", ":"))
    if kind == "wrong_type":
        pattern, replacement = (
            (r'"age":(\d+)', r'"age":"\1"'),
            (r'"nrs":\d+', '"nrs":true'),
            (r'"level":"[^"]*"', '"level":12'),
        )[variant % 3]
        return re.sub(pattern, replacement, line, count=1)
    if kind == "malformed_json":
        return line[: len(line) * (25 + variant % 50) // 100]
    return ""  # empty_line


def _break_lines(text: str, rng: np.random.Generator, count: int) -> str:
    """Break ``count`` of the batch's lines, chosen at random, cycling through the kinds."""
    lines = text.split("\n")  # the last is empty: the text ends in a newline
    positions = np.sort(rng.choice(len(lines) - 1, size=count, replace=False)).tolist()
    first_kind = int(rng.integers(len(INVALID_KINDS)))
    variants = rng.integers(0, 1 << 30, size=count).tolist()
    for number, (position, variant) in enumerate(zip(positions, variants, strict=True)):
        kind = INVALID_KINDS[(first_kind + number) % len(INVALID_KINDS)]
        lines[position] = _break(lines[position], kind, variant)
    return "\n".join(lines)


# -- the public functions ------------------------------------------------------------------------------


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_arguments(count: object, seed: object, invalid_fraction: object) -> None:
    if not _whole(count):
        raise ValueError(f"count must be a whole number, 0 or more, not {count!r}")
    if not _whole(seed):
        raise ValueError(f"seed must be a whole number, 0 or more, not {seed!r}")
    if isinstance(invalid_fraction, bool) or not (
        isinstance(invalid_fraction, int | float) and 0 <= invalid_fraction <= 1
    ):
        raise ValueError(f"invalid_fraction must be from 0 to 1, not {invalid_fraction!r}")


def _batch(seed: int, batch: int, count: int, invalid_fraction: float) -> bytes:
    """The lines of batch ``batch`` of a file of ``count`` cases (UTF-8, each ending in a newline)."""
    first = batch * BATCH_SIZE
    size = min(BATCH_SIZE, count - first)
    rng = np.random.default_rng([seed, batch])
    text = _batch_text(load_profile(), rng, first, size, seed)
    broken = invalid_line_count(first + size, invalid_fraction) - invalid_line_count(first, invalid_fraction)
    if broken:
        text = _break_lines(text, rng, broken)
    return text.encode("utf-8")


def synthesise_jsonl(count: int, seed: int, invalid_fraction: float = 0.0) -> Iterator[bytes]:
    """Yield a JSON Lines file of ``count`` synthetic cases in chunks of whole lines (UTF-8).

    The same count, seed and fraction give the same bytes: batch ``b`` of :data:`BATCH_SIZE` cases is
    drawn from a generator seeded with ``(seed, b)``. Memory stays flat, one batch at a time.
    ``invalid_fraction`` of the lines (rounded) are deliberately invalid, spread over the file.

    Raises:
        ValueError: a count or seed below 0, or a fraction outside 0 to 1.
        ProfileError: the profile file is not usable.
    """
    _check_arguments(count, seed, invalid_fraction)
    load_profile()  # a broken profile fails before the first line
    for batch in range(-(-count // BATCH_SIZE)):
        yield _batch(seed, batch, count, invalid_fraction)


def synthesise_cases(count: int, seed: int, invalid_fraction: float = 0.0) -> Iterator[str]:
    """Yield ``count`` synthetic cases, each one line of JSON without its newline (see
    :func:`synthesise_jsonl`)."""
    for chunk in synthesise_jsonl(count, seed, invalid_fraction):
        yield from chunk.decode("utf-8").split("\n")[:-1]


def write_cases(output: IO[bytes], count: int, seed: int, invalid_fraction: float = 0.0) -> None:
    """Write ``count`` synthetic cases as JSON Lines to a binary file, a batch at a time (see
    :func:`synthesise_jsonl`)."""
    for chunk in synthesise_jsonl(count, seed, invalid_fraction):
        output.write(chunk)
