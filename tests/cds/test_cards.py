"""Cards from an assessment (vertaid.services.cds): each order gets the card its assessment calls for,
every card keeps to the spec's rules, and the words come from the pack."""

from __future__ import annotations

import json
import re
from typing import Any, Final

import pytest

from tests.cds.cds_rules import card_problems, response_problems
from tests.cds.conftest import VIGNETTES, augmentation_order, draft_orders
from vertaid.knowledge import default_pack
from vertaid.services.assessment import assess
from vertaid.services.cds import (
    CardContext,
    InvalidOrders,
    augmentation_orders,
    order_cards,
    recommendation_card,
    unreadable_card,
)

PACK: Final = default_pack()
CONTEXT: Final = CardContext(
    hook_instance="d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    service_id="vertaid-order-sign",
    home_url="https://cds.example.org/",
    decision_aid_url="https://cds.example.org/assessments/abc?view=patient",
    clinician_url="https://cds.example.org/assessments/abc?view=clinician",
)
VERTEBROPLASTY_LUMBAR: Final = "22511"
KYPHOPLASTY_LUMBAR: Final = "22514"
KYPHOPLASTY_THORACIC: Final = "22513"
NON_AUGMENTATION: Final = "72148"  # an MRI order: not one vertaid comments on


def vignette_assessment(name: str) -> dict[str, Any]:
    """The assessment of a public vignette's case."""
    return assess(json.loads((VIGNETTES / f"{name}.json").read_text(encoding="utf-8"))["case"])


def cards_for(name: str, *codes: str) -> list[dict[str, Any]]:
    """The order cards for draft orders with these CPT codes, for a vignette's assessment."""
    orders = augmentation_orders(
        draft_orders(*(augmentation_order(code, f"order-{i}") for i, code in enumerate(codes))),
        None,
        PACK.cds,
    )
    return order_cards(vignette_assessment(name), PACK, orders, CONTEXT)


def test_an_order_that_agrees_gets_an_info_card_without_suggestions() -> None:
    """Kyphoplasty ordered where kyphoplasty is favoured: one info card, then the LCD card."""
    card, *_ = cards_for("02-collapse-over-30", KYPHOPLASTY_LUMBAR)

    assert "info" == card["indicator"]
    assert "suggestions" not in card and "overrideReasons" not in card
    assert card["summary"].startswith("The kyphoplasty order agrees")
    assert [] == card_problems(card)


def test_either_agrees_with_both_procedures() -> None:
    """Where either procedure suits, both orders agree."""
    for code in (KYPHOPLASTY_LUMBAR, VERTEBROPLASTY_LUMBAR):
        assert "info" == cards_for("04-collapse-but-uninsured", code)[0]["indicator"]


def test_the_other_procedure_favoured_gives_a_warning_with_a_switch_suggestion() -> None:
    """Vertebroplasty ordered where kyphoplasty is favoured: a warning whose one recommended suggestion
    updates the draft order to the kyphoplasty code for the same region, with override reasons that
    include the patient-preference ones."""
    card = cards_for("02-collapse-over-30", VERTEBROPLASTY_LUMBAR)[0]

    assert "warning" == card["indicator"]
    assert "kyphoplasty" in card["summary"] and "vertebroplasty" in card["summary"]
    [suggestion] = card["suggestions"]
    [action] = suggestion["actions"]
    assert ("at-most-one", True, "update") == (
        card["selectionBehavior"],
        suggestion["isRecommended"],
        action["type"],
    )
    assert ("ServiceRequest", "order-0") == (action["resource"]["resourceType"], action["resource"]["id"])
    assert [KYPHOPLASTY_LUMBAR] == [coding["code"] for coding in action["resource"]["code"]["coding"]]
    reasons = {reason["code"] for reason in card["overrideReasons"]}
    assert {"prefers-alternative", "patient-fears-discomfort", "patient-refuses"} <= reasons
    assert [] == card_problems(card)


def test_a_switch_maps_every_code_to_its_counterpart_for_the_region() -> None:
    """Kyphoplasty (thoracic) ordered where vertebroplasty is favoured: the switch orders the
    vertebroplasty code of the pack's counterpart (22513 to 22510)."""
    card = cards_for("01-stable-pain-only", KYPHOPLASTY_THORACIC)[0]

    [action] = card["suggestions"][0]["actions"]
    assert ["22510"] == [coding["code"] for coding in action["resource"]["code"]["coding"]]
    assert PACK.cds.order_codes["22513"].counterpart == "22510"


@pytest.mark.parametrize(
    ("name", "finding"),
    [("12-neuro-deficit", "S-neuro"), ("11-active-infection", "N-infection")],
)
def test_a_red_flag_or_contraindication_gives_a_critical_card(name: str, finding: str) -> None:
    """A neurological deficit (red flag) or an active infection (contraindication): critical, with the
    finding that decided in the detail and a suggestion to remove the order."""
    card = cards_for(name, KYPHOPLASTY_LUMBAR)[0]
    assessment = vignette_assessment(name)
    text = next(item["text"] for item in assessment["findings"] if item["rule"] == finding)

    assert "critical" == card["indicator"]
    assert text.split(" - ")[0] in card["detail"].replace("\\", "")
    [suggestion] = card["suggestions"]
    assert [("delete", "ServiceRequest/order-0")] == [
        (a["type"], a["resourceId"]) for a in suggestion["actions"]
    ]
    assert [] == card_problems(card)


def test_an_order_before_its_time_gives_a_warning_to_remove_it() -> None:
    """Kyphoplasty ordered where non-surgical care comes first: a warning naming the advice, with a
    suggestion to remove the order."""
    card = cards_for("05-too-early", KYPHOPLASTY_LUMBAR)[0]

    assert ("warning", "delete") == (card["indicator"], card["suggestions"][0]["actions"][0]["type"])
    assert "non-surgical care" in card["summary"]


def test_the_lcd_items_still_unmet_are_listed() -> None:
    """Beside an order, a card lists every Medicare LCD item the assessment found unmet."""
    assessment = vignette_assessment("02-collapse-over-30")
    unmet = assessment["coverage"]["medicare_lcd"]["unmet"]
    card = cards_for("02-collapse-over-30", KYPHOPLASTY_LUMBAR)[-1]

    assert unmet, "the vignette has unmet LCD items"
    assert f"{len(unmet)} of 4" in card["summary"]
    for item in unmet:
        assert item.split(",")[0] in card["detail"]


def test_orders_for_other_procedures_get_no_cards() -> None:
    """An order that is neither vertebroplasty nor kyphoplasty is not commented on."""
    assert [] == cards_for("02-collapse-over-30", NON_AUGMENTATION)


def test_order_select_reads_only_the_orders_just_selected() -> None:
    """order-select: of two draft orders, only the selected one counts."""
    bundle = draft_orders(
        augmentation_order(KYPHOPLASTY_LUMBAR, "a"), augmentation_order(VERTEBROPLASTY_LUMBAR, "b")
    )

    orders = augmentation_orders(bundle, ["ServiceRequest/b"], PACK.cds)

    assert ["ServiceRequest/b"] == [order.reference for order in orders]


def test_draft_orders_that_are_not_a_bundle_are_refused() -> None:
    """draftOrders must be a Bundle: anything else names the member."""
    with pytest.raises(InvalidOrders) as raised:
        augmentation_orders({"resourceType": "ServiceRequest"}, None, PACK.cds)

    assert "context.draftOrders" == raised.value.problems[0][0]


def test_the_same_call_gives_the_same_cards() -> None:
    """Cards are deterministic: uuids come from the hook instance, so a repeated call gives equal cards,
    and another hook instance other uuids."""
    first, again = (
        cards_for("01-stable-pain-only", KYPHOPLASTY_LUMBAR),
        cards_for("01-stable-pain-only", KYPHOPLASTY_LUMBAR),
    )
    orders = augmentation_orders(
        draft_orders(augmentation_order(KYPHOPLASTY_LUMBAR, "order-0")), None, PACK.cds
    )
    other = order_cards(
        vignette_assessment("01-stable-pain-only"),
        PACK,
        orders,
        CardContext(hook_instance="another", service_id="vertaid-order-sign"),
    )

    assert first == again
    assert first[0]["uuid"] != other[0]["uuid"]


VIGNETTE_NAMES: Final = sorted(path.stem for path in VIGNETTES.glob("*.json"))


@pytest.mark.parametrize("name", VIGNETTE_NAMES)
def test_every_card_for_every_vignette_keeps_to_the_spec(name: str) -> None:
    """For every public vignette, the patient-view card and the cards for each procedure ordered keep
    to CDS Hooks 2.0.1 (summary under 140 characters, nothing null or empty, ...)."""
    responses = [{"cards": [recommendation_card(vignette_assessment(name), PACK, CONTEXT)]}]
    responses += [{"cards": cards_for(name, code)} for code in (VERTEBROPLASTY_LUMBAR, KYPHOPLASTY_LUMBAR)]
    responses.append({"cards": cards_for(name, KYPHOPLASTY_THORACIC, VERTEBROPLASTY_LUMBAR)})

    assert [[] for _ in responses] == [response_problems(response) for response in responses]


def test_a_card_without_stored_assessment_has_no_links() -> None:
    """Links are left out, not emptied, when there is nothing to link to."""
    card = unreadable_card(
        [("Observation/nrs-1.valueInteger", "12 is more than 10")], PACK, CardContext("h", "s")
    )

    assert "links" not in card and "url" not in card["source"]
    assert [] == card_problems(card)


def test_text_from_the_record_cannot_inject_markdown_or_html() -> None:
    """Problem text quoting the record is escaped before it goes into a card's Markdown detail."""
    card = unreadable_card([("Patient/p.name", "<script>alert(1)</script> [link](http://x)")], PACK, CONTEXT)

    line = next(line for line in card["detail"].splitlines() if "script" in line)
    assert re.search(r"(?<!\\)[<>\[\]]", line) is None, line
    assert "\\<script\\>" in line
