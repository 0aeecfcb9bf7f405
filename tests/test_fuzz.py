"""Hostile input at the Python doors (issue 7): whatever is handed in, only the documented error comes out.

Hypothesis feeds arbitrary JSON values, valid cases with parts replaced, removed or added, arbitrary bytes
and mangled JSON texts, and example FHIR Bundles mangled the same way, to the doors every adapter goes
through: ``vertaid.assess`` (``InvalidCase`` or an assessment), the JSON reader of the CLI and the API
(``UnreadableInput`` or a value), the case form's mapping (problems, never an exception) and the FHIR
mapping (``InvalidBundle`` or an assessment). Any other exception, or an assessment that is not strict
JSON, fails.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

import vertaid
from tests.test_properties import ANY_CASE
from vertaid.domain.case import InvalidCase, parse_case
from vertaid.fhir import InvalidBundle, assess_fhir
from vertaid.services._json_text import UnreadableInput, parse_json_text
from vertaid.web._form import case_from_form, form_values

EXAMPLE_BUNDLES: Final = sorted((Path(__file__).parent.parent / "examples" / "fhir").glob("*.json"))
AS_OF: Final = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
"""The example Bundles' timestamp: the day their ages and weeks count back from."""

FUZZ: Final = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies ---------------------------------------------------------------------------------------

_NUMBERS: Final = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),  # beyond any float
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -0.0, 1e308, -1e308, 5e-324, 2**63, -(2**63) - 1, 10**30]),
)
_TEXTS: Final = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "L1",
            "T12",
            "<script>alert(1)</script>",
            "'; DROP TABLE assessments; --",
            "\x00",
            "\ud800",  # an unpaired surrogate: not encodable as UTF-8
            "\u202e",
            "x" * 10_000,
            "1e999",
            "NaN",
        ]
    ),
)
LEAVES: Final = st.one_of(st.none(), st.booleans(), _NUMBERS, _TEXTS)

JSON_VALUES: Final = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(
            st.one_of(_TEXTS, st.sampled_from(["id", "patient", "level", "nrs"])), children, max_size=6
        ),
    ),
    max_leaves=40,
)
"""Any JSON-like value: nulls, booleans, numbers of every size (NaN and infinities included), strings
(markup, SQL, control characters, unpaired surrogates, 10 000 characters), lists and objects."""

_Path = tuple[str | int, ...]


def _paths(value: object, here: _Path = ()) -> list[_Path]:
    """Every place inside a JSON value, the value itself first."""
    found = [here]
    if isinstance(value, dict):
        for key, member in value.items():
            found += _paths(member, (*here, key))
    elif isinstance(value, list):
        for index, member in enumerate(value):
            found += _paths(member, (*here, index))
    return found


def _at(value: Any, path: _Path) -> Any:
    for part in path:
        value = value[part]
    return value


@st.composite
def mutated(draw: st.DrawFn, documents: st.SearchStrategy[Any]) -> Any:
    """A document with one to three of its parts replaced by any value, removed, or given a new member
    (or item) of any value; or, now and then, one of its lists or objects emptied."""
    document = copy.deepcopy(draw(documents))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(document)))
        action = draw(st.sampled_from(["replace", "remove", "add", "empty"]))
        if not path or action == "replace":
            replacement = draw(JSON_VALUES)
            if not path:
                document = replacement
            else:
                _at(document, path[:-1])[path[-1]] = replacement
            continue
        parent = _at(document, path[:-1])
        if action == "remove":
            del parent[path[-1]]
        elif action == "add":
            target = _at(document, path)
            if isinstance(target, dict):
                target[draw(_TEXTS)] = draw(JSON_VALUES)
            elif isinstance(target, list):
                target.insert(draw(st.integers(0, len(target))), draw(JSON_VALUES))
            else:
                parent[path[-1]] = [target, draw(JSON_VALUES)]
        else:
            target = _at(document, path)
            if isinstance(target, dict | list):
                target.clear()
    return document


def _example_bundle(path: Path) -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return bundle


BUNDLES: Final = st.sampled_from(EXAMPLE_BUNDLES).map(_example_bundle)


@st.composite
def _mangled_text(draw: st.DrawFn) -> bytes:
    """A valid case's JSON text cut short, with bytes spliced in, or with a byte-order mark or a
    repeated key in front."""
    text = json.dumps(draw(ANY_CASE)).encode()
    how = draw(st.sampled_from(["truncate", "splice", "bom", "duplicate key", "deep"]))
    if how == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    if how == "splice":
        at = draw(st.integers(0, len(text)))
        return text[:at] + draw(st.binary(max_size=8)) + text[at:]
    if how == "bom":
        return b"\xef\xbb\xbf" + text
    if how == "duplicate key":
        return b'{"patient": 5, ' + text[1:]
    depth = draw(st.integers(30, 5000))
    return b'{"id": ' + b"[" * depth + b"]" * depth + b", " + text[1:]


# -- checks -------------------------------------------------------------------------------------------


def _strict_json(document: object) -> None:
    """The document is JSON a strict parser takes back unchanged (no NaN, no infinity)."""
    text = json.dumps(document, allow_nan=False)
    assert json.loads(text) == document


def _only_documented_error(call: Callable[[], object], error_type: type[InvalidCase]) -> None:
    """``call`` returns a strict JSON document, or raises ``error_type`` with (path, message) problems."""
    try:
        result = call()
    except error_type as error:
        assert error.problems, "an error without problems"
        for where, message in error.problems:
            assert (type(where), type(message)) == (str, str) and message
        str(error)  # its message can be made (and printed by the CLI)
        return
    _strict_json(result)


def _read_then_assessed_or_refused(raw: bytes) -> None:
    """``raw`` is read as JSON or refused with a one-line ``UnreadableInput``; what is read is assessed or
    refused with ``InvalidCase``."""
    try:
        document = parse_json_text(raw)
    except UnreadableInput as error:
        assert str(error) and "\n" not in str(error)
        return
    _only_documented_error(lambda: vertaid.assess(document), InvalidCase)


# -- the case model -----------------------------------------------------------------------------------


@FUZZ
@given(JSON_VALUES)
def test_any_json_value_is_assessed_or_refused_with_invalid_case(value: object) -> None:
    """``vertaid.assess`` on any JSON value gives a strict-JSON assessment or ``InvalidCase``: nothing
    else."""
    _only_documented_error(lambda: vertaid.assess(value), InvalidCase)


@FUZZ
@given(mutated(ANY_CASE))
def test_a_mangled_case_is_assessed_or_refused_with_invalid_case(case: object) -> None:
    """A valid case with parts replaced by any value, removed or added to: an assessment or
    ``InvalidCase`` naming paths, nothing else."""
    _only_documented_error(lambda: vertaid.assess(case), InvalidCase)


@FUZZ
@given(st.one_of(st.binary(max_size=200), _mangled_text()))
def test_any_bytes_are_read_as_json_or_refused_with_one_reason(raw: bytes) -> None:
    """The JSON reader of the CLI and the API takes any bytes (binary, cut short, spliced, with a BOM, a
    repeated key, nested thousands deep) to a value or ``UnreadableInput``; a value read then goes to the
    case model, which assesses it or raises ``InvalidCase``."""
    _read_then_assessed_or_refused(raw)


def _vignette_case() -> dict[str, Any]:
    document = json.loads(
        (Path(__file__).parent / "vignettes" / "02-collapse-over-30.json").read_text(encoding="utf-8")
    )
    case: dict[str, Any] = document["case"]
    return case


@pytest.mark.parametrize("member", ["age", "t_score"])
@pytest.mark.parametrize(
    "number", ["1" + "0" * 400, "1e999", "-1e999", "9" * 5000, "0." + "0" * 5000 + "1", "1E+99999999999"]
)
def test_a_number_beyond_a_float_is_refused_not_crashed(member: str, number: str) -> None:
    """A number too large (or too long) for a float, in a whole-number member or a decimal one, is
    refused in one line by the reader or at its path by the case model: never an OverflowError or a
    ValueError from the conversion."""
    case = _vignette_case()
    case["patient"][member] = "NUMBER"
    raw = json.dumps(case).replace('"NUMBER"', number).encode()

    _read_then_assessed_or_refused(raw)


# -- the case form ------------------------------------------------------------------------------------

_FORM_VALUES: Final = st.lists(
    st.one_of(_TEXTS, st.sampled_from(["", "yes", "no", "1", "-1", "1e400", "nan"])), max_size=3
)


@st.composite
def _forms(draw: st.DrawFn) -> dict[str, list[str]]:
    """A submitted form: a valid case's controls with some values changed, dropped or added, and now
    and then controls no form has."""
    values = {name: list(sent) for name, sent in form_values(draw(ANY_CASE)).items()}
    names = sorted(values)
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.one_of(st.sampled_from(names), _TEXTS)) if names else draw(_TEXTS)
        values[name] = draw(_FORM_VALUES)
    return values


@FUZZ
@given(_forms())
def test_any_submitted_form_maps_to_a_case_or_problems(values: dict[str, list[str]]) -> None:
    """The case form's mapping takes any controls with any texts to a case and a list of problems, and
    the case model then accepts the case or raises ``InvalidCase``: never another exception."""
    case, problems = case_from_form(values)

    for where, message in problems:
        assert (type(where), type(message)) == (str, str)
    try:
        parse_case(case)
    except InvalidCase as error:
        assert error.problems


# -- the FHIR mapping ---------------------------------------------------------------------------------


@FUZZ
@given(mutated(BUNDLES))
def test_a_mangled_bundle_is_assessed_or_refused_with_invalid_bundle(bundle: object) -> None:
    """An example Bundle with parts replaced by any value, removed or added to: an assessment or
    ``InvalidBundle`` naming where, nothing else."""
    _only_documented_error(lambda: assess_fhir(bundle, as_of=AS_OF), InvalidBundle)


@FUZZ
@given(JSON_VALUES)
def test_any_json_value_given_as_a_bundle_is_refused_with_invalid_bundle(value: object) -> None:
    """Any JSON value that is not a Bundle at all is refused with ``InvalidBundle``."""
    _only_documented_error(lambda: assess_fhir(value, as_of=AS_OF), InvalidBundle)
