"""The case form's mapping to and from the case model, and its words."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import VIGNETTES, vignette_case
from vertaid.domain._shapes import Choice, ListOf, Record
from vertaid.domain.case import CASE_SHAPE, InvalidCase, parse_case
from vertaid.web._form import (
    Group,
    Input,
    Repeated,
    add_fracture,
    build_form,
    case_from_form,
    form_values,
    member_terms,
    problem_summary,
    remove_fracture,
    words,
)

NAMES = sorted(path.stem for path in VIGNETTES.glob("*.json"))


def _inputs(node: Input | Group | Repeated) -> list[Input]:
    if isinstance(node, Input):
        return [node]
    if isinstance(node, Group):
        return [field for member in node.members for field in _inputs(member)]
    return [field for item in node.items for field in _inputs(item)]


def _shape_at(term: str) -> Any:
    shape: Any = CASE_SHAPE
    for part in term.replace("[]", ".[]").split("."):
        if part == "[]":
            shape = shape.item
        else:
            shape = shape.fields[part].shape
    return shape


@pytest.mark.parametrize("name", NAMES)
def test_a_case_survives_the_form_unchanged(name: str) -> None:
    """Every public vignette, written into the form's values and read back, is the same case."""
    case = vignette_case(name)

    back, unknown = case_from_form(form_values(case))

    assert unknown == []
    assert parse_case(back) == parse_case(case)


def test_the_words_name_every_member_of_the_case_model_and_nothing_else() -> None:
    """A label and help for each member (found from the shapes), none for a member that does not exist."""
    assert set(words()) == set(member_terms())
    for term, text in words().items():
        assert text.label.strip(), term
        assert text.help.strip(), term


def test_choice_words_are_for_values_the_case_model_has() -> None:
    """Words given for a choice's values name only values of that choice."""
    for term, text in words().items():
        if not text.choices:
            continue
        shape = _shape_at(term)
        choice = shape.item if isinstance(shape, ListOf) else shape
        assert isinstance(choice, Choice), term
        assert set(text.choices) <= {str(value) for value in choice.values}, term


def test_the_form_has_one_control_for_each_member_with_its_shapes_choices() -> None:
    """The controls of a one-fracture form are the case model's members, named by their paths."""
    fields = {field.name: field for field in _inputs(build_form({}))}
    members = [term for term in member_terms() if not isinstance(_shape_at(term), Record)]
    members = [term for term in members if not isinstance(getattr(_shape_at(term), "item", None), Record)]

    assert set(fields) == {term.replace("[]", "[0]") for term in members}
    level = fields["fractures[0].level"]
    assert [option.value for option in level.options] == list(_shape_at("fractures[].level").values)
    assert level.required and level.blank == "Choose one"
    assert fields["patient.age"].range == "a whole number from 18 to 120"
    assert fields["fractures[0].morphometry_mm.reference_posterior"].range == "a number above 0 to 100"
    assert fields["patient.setting"].values == ("outpatient",)  # the case model's default, shown chosen
    assert fields["patient.pregnant"].kind == "finding"  # false unless ticked
    assert fields["fractures[0].mri_edema"].kind == "known"  # yes, no or not known
    assert not fields["fractures[0].morphometry_mm.anterior"].required  # only with the other heights


def test_blank_controls_are_unknown_and_text_goes_to_the_case_model_as_typed() -> None:
    """Blank means absent; numbers and choices are converted only where the text plainly is one."""
    values = {
        "patient.age": ["  78 "],
        "patient.t_score": ["-2.5"],
        "patient.sex": [""],
        "pain.nrs": ["eight"],
        "pain.rdq": ["12.5"],
        "fractures[0].level": ["L1"],
        "fractures[0].mri_edema": ["false"],
        "fractures[0].endplates_involved": ["2"],
        "fractures[0].morphometry_mm.anterior": [""],
        "conservative_care.modalities": ["brace", "rest"],
    }

    case, unknown = case_from_form(values)

    assert unknown == []
    assert case == {
        "patient": {"age": 78, "t_score": -2.5},
        "pain": {"nrs": "eight", "rdq": 12.5},
        "conservative_care": {"modalities": ["brace", "rest"]},
        "fractures": [{"level": "L1", "mri_edema": False, "endplates_involved": 2}],
    }
    with pytest.raises(InvalidCase) as invalid:
        parse_case(case)
    assert ("pain.nrs", "'eight' is not a whole number") in invalid.value.problems
    assert ("pain.rdq", "12.5 is not a whole number") in invalid.value.problems


def test_a_name_that_is_no_member_is_a_problem() -> None:
    """A control the case model does not know (a hand-made form) is reported, never silently ignored."""
    _, unknown = case_from_form({"patient.agee": ["70"], "csrf_token": ["x"], "action": ["assess"]})

    assert unknown == [("patient.agee", "unknown field")]


def test_problems_are_shown_at_their_control_or_the_nearest_fieldset() -> None:
    """A problem's path names its control; a path with none (a list item) goes to its nearest owner."""
    problems = [
        ("fractures[0].level", "'L9' is not a vertebral level"),
        ("conservative_care.modalities[1]", "'yoga' is not one of: …"),
        ("fractures", "must have at least 1 item"),
        ("$", "is not a valid case"),
    ]

    form = build_form({"fractures[0].level": ["L9"]}, problems)

    fields = {field.name: field for field in _inputs(form)}
    assert fields["fractures[0].level"].problems == ("'L9' is not a vertebral level",)
    assert fields["conservative_care.modalities"].problems == ("'yoga' is not one of: …",)
    fractures = next(member for member in form.members if isinstance(member, Repeated))
    assert fractures.problems == ("must have at least 1 item",)
    assert form.problems == ("is not a valid case",)
    summary = problem_summary(form, problems)
    assert [item.path for item in summary] == [path for path, _ in problems]
    assert summary[0].target == "case-fractures-0-level"
    assert summary[0].label == "Fracture 1: Vertebral level"


def test_fractures_are_added_and_removed_keeping_the_others() -> None:
    """Removing a fracture moves the later ones up with their values; adding one adds a blank one."""
    values = {
        "patient.age": ["80"],
        "fractures[0].level": ["T12"],
        "fractures[1].level": ["L1"],
        "fractures[1].cause": ["osteoporotic"],
        "fractures[2].level": ["L2"],
    }

    removed, count = remove_fracture(values, 1)
    added, more = add_fracture(removed)

    assert count == 2
    assert removed == {"patient.age": ["80"], "fractures[0].level": ["T12"], "fractures[1].level": ["L2"]}
    assert more == 3
    form = build_form(added, fractures=more, focus="fractures[2].level")
    fields = {field.name: field for field in _inputs(form)}
    assert fields["fractures[2].level"].values == ()
    assert fields["fractures[2].level"].autofocus
