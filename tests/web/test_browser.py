"""The decision aid in a real browser (Debian's Chromium, headless, driven by Playwright).

A person fills the case form for three public vignettes (one kyphoplasty, one vertebroplasty, one
conservative care), sends it, sees the decision and the icon arrays, opens the patient view and downloads
the PDF; bad values show their problems next to their fields; the form works from the keyboard, without
JavaScript, and without breaking the Content-Security-Policy.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from pypdf import PdfReader

from tests.web.conftest import CONSERVATIVE, KYPHOPLASTY, VERTEBROPLASTY, vignette
from vertaid.web._form import control_id, form_values


@pytest.fixture
def page(browser: Browser, live_server: str) -> Iterator[Page]:
    """A new browser tab (own cookies) on the live server; it fails the test on a script error or any
    console error (where a Content-Security-Policy violation shows) but the browser's note of the 422
    that answers a form with problems."""
    context = browser.new_context(base_url=live_server, accept_downloads=True)
    opened = context.new_page()
    errors: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if message.type == "error" and "status of 422" not in message.text:
            errors.append(message.text)

    opened.on("console", record)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.set_default_timeout(15_000)
    try:
        yield opened
        assert errors == []
    finally:
        context.close()


def _fill(page: Page, case: dict[str, Any]) -> None:
    """Fill the form as a person would, adding fracture levels as the case needs them."""
    for _ in range(len(case["fractures"]) - 1):
        count = page.locator("fieldset[id^='case-fractures-'] select[name$='].level']").count()
        page.get_by_role("button", name="Add another fracture").click()
        expect(page.locator(f"#{control_id(f'fractures[{count}].level')}")).to_be_focused()
    for name, values in form_values(case).items():
        control = page.locator(f"[name='{name}']")
        if control.count() > 1 or control.first.get_attribute("type") == "checkbox":
            for value in values:
                page.locator(f"[name='{name}'][value='{value}']").check()
        elif control.evaluate("element => element.tagName") == "SELECT":
            control.select_option(values[0])
        else:
            control.fill(values[0])


@pytest.mark.parametrize("name", [KYPHOPLASTY, VERTEBROPLASTY, CONSERVATIVE])
def test_a_vignette_entered_in_the_form_gets_its_decision(name: str, page: Page, tmp_path: Path) -> None:
    """Fill, send, see the decision and the icon arrays, open the patient view, download the PDF."""
    document = vignette(name)
    decision = document["expected"]["decision"]
    page.goto("/")

    _fill(page, document["case"])
    page.get_by_role("button", name="Assess this case").click()

    page.wait_for_url("**/assessments/*")
    bar = page.locator("[data-decision]")
    expect(bar).to_have_attribute("data-decision", decision)
    expect(page.locator("#recommendation")).to_be_visible()
    arrays = page.locator("svg.icon-array")
    assert arrays.count() > 0
    first = arrays.first
    denominator = int(first.get_attribute("data-denominator") or 0)
    assert first.locator(".icon").count() == denominator
    assert first.locator(".icon.affected").count() == int(first.get_attribute("data-numerator") or -1)

    page.get_by_role("link", name="For the clinician").click()
    expect(page.locator("#findings")).to_be_visible()
    page.get_by_role("link", name="For the patient").click()
    expect(page.get_by_role("link", name="For the patient")).to_have_attribute("aria-current", "page")
    expect(page.locator("#option-grid")).to_be_visible()
    expect(page.locator("#for-you")).to_contain_text("What the guide suggests for you")
    assert page.locator("svg.icon-array").count() == arrays.count()

    with page.expect_download() as waiting:
        page.get_by_role("link", name="Download this decision guide as PDF").click()
    saved = tmp_path / "guide.pdf"
    waiting.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF")
    text = " ".join(sheet.extract_text() for sheet in PdfReader(BytesIO(saved.read_bytes())).pages)
    assert document["case"]["id"] in text
    assert "decision guide" in text


def test_bad_values_show_their_problems_next_to_their_fields(page: Page) -> None:
    """The problems appear beside their fields (and in a focused summary linking to them); nothing is lost."""
    page.goto("/")
    page.locator("[name='patient.age']").fill("150")
    page.locator("[name='pain.nrs']").fill("ten")
    page.locator("[name='fractures[0].morphometry_mm.anterior']").fill("14")

    page.get_by_role("button", name="Assess this case").click()

    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expected = {
        "patient.age": "150 is out of range: must be at most 120",
        "pain.nrs": "'ten' is not a whole number",
        "fractures[0].level": "is required",
        "fractures[0].morphometry_mm.middle": "is required",
    }
    for name, message in expected.items():
        field = page.locator(f"#{control_id(name)}")
        error = page.locator(f"#{control_id(name)}-error-1")
        expect(error).to_have_text(f"Error: {message}")
        expect(field).to_have_attribute("aria-invalid", "true")
        # Beside its field (in the same box), and read out with it by a screen reader.
        assert error.evaluate(
            "(error, field) => error.parentElement === field.parentElement", field.element_handle()
        )
        expect(field).to_have_accessible_description(re.compile(re.escape(message)))
    expect(page.locator("[name='patient.age']")).to_have_value("150")
    expect(page.locator("[name='fractures[0].morphometry_mm.anterior']")).to_have_value("14")
    page.locator(".error-summary a", has_text="Age").click()
    expect(page.locator("[name='patient.age']")).to_be_focused()


def test_fracture_levels_are_added_and_removed_from_the_keyboard(page: Page) -> None:
    """Tab to the button and press Enter: a level is added and focused; remove puts focus back."""
    page.goto("/")
    page.locator("[name='fractures[0].level']").select_option("T12")

    add = page.get_by_role("button", name="Add another fracture")
    add.focus()
    page.keyboard.press("Enter")
    second = page.locator("[name='fractures[1].level']")
    expect(second).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("[name='fractures[1].cause']")).to_be_focused()

    page.get_by_role("button", name="Remove fracture 1").focus()
    page.keyboard.press("Enter")
    expect(page.locator("[name='fractures[1].level']")).to_have_count(0)
    only = page.locator("[name='fractures[0].level']")
    expect(only).to_be_focused()
    expect(page.get_by_role("button", name="Remove fracture 1")).to_have_count(0)  # at least one level stays


def test_the_form_works_without_javascript(browser: Browser, live_server: str) -> None:
    """With scripts off the form is an ordinary form: it adds a level and stores a case."""
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/")
        document = vignette(KYPHOPLASTY)
        _fill(page, document["case"])
        page.get_by_role("button", name="Assess this case").click()
        page.wait_for_url("**/assessments/*")
        expect(page.locator("[data-decision]")).to_have_attribute("data-decision", "kyphoplasty")
    finally:
        context.close()
