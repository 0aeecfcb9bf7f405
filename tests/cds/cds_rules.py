"""A checker of the CDS Hooks 2.0.1 rules for service responses, discovery documents and
OperationOutcomes, written from the specification's text (and the invariants cds-resp-1..6 of its
logical model), for the tests to hold every answer to.

Each function returns the problems it finds, one line each naming the JSON path; none means valid.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = ["discovery_problems", "operation_outcome_problems", "response_problems"]

MAX_SUMMARY: Final = 139
"""CDS Hooks 2.0.1: "One-sentence, <140-character summary message"."""

INDICATORS: Final = ("info", "warning", "critical")
SELECTION_BEHAVIORS: Final = ("at-most-one", "any")
ACTION_TYPES: Final = ("create", "update", "delete")
LINK_TYPES: Final = ("absolute", "smart")

CARD_KEYS: Final = frozenset(
    {
        "uuid",
        "summary",
        "detail",
        "indicator",
        "source",
        "suggestions",
        "selectionBehavior",
        "overrideReasons",
        "links",
        "extension",
    }
)
SOURCE_KEYS: Final = frozenset({"label", "url", "icon", "topic"})
SUGGESTION_KEYS: Final = frozenset({"label", "uuid", "isRecommended", "actions"})
ACTION_KEYS: Final = frozenset({"type", "description", "resource", "resourceId"})
LINK_KEYS: Final = frozenset({"label", "url", "type", "appContext", "autolaunchable"})
CODING_KEYS: Final = frozenset({"system", "code", "display"})
SERVICE_KEYS: Final = frozenset({"hook", "title", "description", "id", "prefetch", "usageRequirements"})


def _empty_values(value: object, path: str) -> Iterator[str]:
    """Every null or empty member (JSON elements SHALL NOT be null or empty)."""
    if value is None or value == "" or value == [] or value == {}:
        yield f"{path}: is null or empty (an optional member without a value must be left out)"
        return
    if isinstance(value, dict):
        for key, member in value.items():
            yield from _empty_values(member, f"{path}.{key}")
    elif isinstance(value, list):
        for index, member in enumerate(value):
            yield from _empty_values(member, f"{path}[{index}]")


def _unknown(value: dict[str, Any], allowed: frozenset[str], path: str) -> list[str]:
    return [f"{path}.{key}: is not a member the specification defines" for key in value if key not in allowed]


def _text(value: object, path: str, required: bool = True) -> list[str]:
    if value is None:
        return [f"{path}: is required"] if required else []
    if not isinstance(value, str) or not value.strip():
        return [f"{path}: must be a non-empty string"]
    return []


def _absolute_url(value: object, path: str) -> list[str]:
    if not isinstance(value, str):
        return [f"{path}: must be a URL"]
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [f"{path}: must be an absolute URL"]
    return []


def _coding(value: object, path: str, display_required: bool) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: must be a Coding"]
    problems = _unknown(value, CODING_KEYS, path)
    problems += _text(value.get("code"), f"{path}.code")
    problems += _text(value.get("system"), f"{path}.system", required=False)
    problems += _text(value.get("display"), f"{path}.display", required=display_required)
    return problems


def _action(value: object, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: must be an Action"]
    problems = _unknown(value, ACTION_KEYS, path)
    kind = value.get("type")
    if kind not in ACTION_TYPES:
        problems.append(f"{path}.type: {kind!r} is not one of {ACTION_TYPES}")
    problems += _text(value.get("description"), f"{path}.description")  # cds-resp-5
    resource = value.get("resource")
    if kind in ("create", "update"):
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            problems.append(f"{path}.resource: a {kind} action needs the whole FHIR resource")
        elif kind == "update" and not isinstance(resource.get("id"), str):
            problems.append(f"{path}.resource.id: an update names the resource it replaces")
    if kind == "delete":  # cds-resp-2
        if "resource" in value:
            problems.append(f"{path}.resource: a delete action names its resource by resourceId only")
        problems += _text(value.get("resourceId"), f"{path}.resourceId")
        if isinstance(value.get("resourceId"), str) and "/" not in value["resourceId"]:
            problems.append(f"{path}.resourceId: must be a relative reference (Type/id)")
    return problems


def _each(values: object, path: str, check: Callable[[object, str], list[str]]) -> list[str]:
    """The problems of an optional list member, item by item (none when it is absent)."""
    if values is None:
        return []
    if not isinstance(values, list):
        return [f"{path}: must be a list"]
    return [problem for index, value in enumerate(values) for problem in check(value, f"{path}[{index}]")]


def _reason(value: object, path: str) -> list[str]:
    return _coding(value, path, display_required=True)


def _suggestion(value: object, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: must be a Suggestion"]
    problems = _unknown(value, SUGGESTION_KEYS, path)
    problems += _text(value.get("label"), f"{path}.label")
    if "uuid" in value:
        problems += _uuid(value["uuid"], f"{path}.uuid")
    if "isRecommended" in value and not isinstance(value["isRecommended"], bool):
        problems.append(f"{path}.isRecommended: must be a boolean")
    return problems + _each(value.get("actions"), f"{path}.actions", _action)


def _uuid(value: object, path: str) -> list[str]:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return [f"{path}: {value!r} is not a UUID"]
    return [] if isinstance(value, str) else [f"{path}: must be a string"]


def _link(value: object, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: must be a Link"]
    problems = _unknown(value, LINK_KEYS, path)
    problems += _text(value.get("label"), f"{path}.label")
    problems += _absolute_url(value.get("url"), f"{path}.url")
    if value.get("type") not in LINK_TYPES:
        problems.append(f"{path}.type: {value.get('type')!r} is not one of {LINK_TYPES}")
    if "appContext" in value and value.get("type") != "smart":  # cds-resp-3
        problems.append(f"{path}.appContext: only a smart link may carry an appContext")
    if "autolaunchable" in value and not isinstance(value["autolaunchable"], bool):
        problems.append(f"{path}.autolaunchable: must be a boolean")
    return problems


def card_problems(card: object, path: str = "card") -> list[str]:
    """The rules one card breaks."""
    if not isinstance(card, dict):
        return [f"{path}: must be a Card object"]
    problems = _unknown(card, CARD_KEYS, path)
    summary = card.get("summary")
    problems += _text(summary, f"{path}.summary")
    if isinstance(summary, str) and len(summary) > MAX_SUMMARY:
        problems.append(
            f"{path}.summary: {len(summary)} characters; the specification asks for fewer than 140"
        )
    if card.get("indicator") not in INDICATORS:
        problems.append(f"{path}.indicator: {card.get('indicator')!r} is not one of {INDICATORS}")
    if "uuid" in card:
        problems += _uuid(card["uuid"], f"{path}.uuid")
    if "detail" in card:
        problems += _text(card["detail"], f"{path}.detail")
    source = card.get("source")
    if not isinstance(source, dict):
        problems.append(f"{path}.source: is required (an object with a label)")
    else:
        problems += _unknown(source, SOURCE_KEYS, f"{path}.source")
        problems += _text(source.get("label"), f"{path}.source.label")
        for key in ("url", "icon"):
            if key in source:
                problems += _absolute_url(source[key], f"{path}.source.{key}")
        if "topic" in source:
            problems += _coding(source["topic"], f"{path}.source.topic", display_required=False)
    suggestions = card.get("suggestions")
    behavior = card.get("selectionBehavior")
    if suggestions is not None:
        if behavior not in SELECTION_BEHAVIORS:  # cds-resp-6
            problems.append(
                f"{path}.selectionBehavior: must be one of {SELECTION_BEHAVIORS} with suggestions"
            )
        if not isinstance(suggestions, list):
            problems.append(f"{path}.suggestions: must be a list")
        else:
            for index, suggestion in enumerate(suggestions):
                problems += _suggestion(suggestion, f"{path}.suggestions[{index}]")
            recommended = [s for s in suggestions if isinstance(s, dict) and s.get("isRecommended") is True]
            if behavior == "at-most-one" and len(recommended) > 1:  # cds-resp-1
                problems.append(f"{path}.suggestions: at most one may be recommended with at-most-one")
    elif behavior is not None:
        problems.append(f"{path}.selectionBehavior: is given without suggestions")
    problems += _each(card.get("overrideReasons"), f"{path}.overrideReasons", _reason)  # cds-resp-4
    return problems + _each(card.get("links"), f"{path}.links", _link)


def response_problems(document: object) -> list[str]:
    """The rules a service's response (``{"cards": [...]}``) breaks."""
    if not isinstance(document, dict):
        return ["$: must be an object"]
    problems = _unknown(document, frozenset({"cards", "systemActions", "extension"}), "$")
    cards = document.get("cards")
    if not isinstance(cards, list):
        return [*problems, "$.cards: is required (a list; empty for no guidance)"]
    for index, card in enumerate(cards):
        problems += list(_empty_values(card, f"$.cards[{index}]"))
        problems += card_problems(card, f"$.cards[{index}]")
    uuids = [card.get("uuid") for card in cards if isinstance(card, dict) and "uuid" in card]
    if len(uuids) != len(set(uuids)):
        problems.append("$.cards: two cards share a uuid")
    if "systemActions" in document:
        problems += list(_empty_values(document["systemActions"], "$.systemActions"))
    return problems


def discovery_problems(document: object) -> list[str]:
    """The rules a discovery document (``{"services": [...]}``) breaks."""
    if not isinstance(document, dict) or not isinstance(document.get("services"), list):
        return ["$.services: is required (a list)"]
    problems = list(_empty_values(document["services"], "$.services")) if document["services"] else []
    ids = []
    for index, service in enumerate(document["services"]):
        path = f"$.services[{index}]"
        if not isinstance(service, dict):
            problems.append(f"{path}: must be an object")
            continue
        problems += _unknown(service, SERVICE_KEYS, path)
        for key in ("hook", "description", "id"):
            problems += _text(service.get(key), f"{path}.{key}")
        problems += _text(service.get("title"), f"{path}.title", required=False)
        ids.append((service.get("id"), service.get("hook")))
        prefetch = service.get("prefetch")
        if prefetch is not None and not (
            isinstance(prefetch, dict) and all(isinstance(v, str) and v for v in prefetch.values())
        ):
            problems.append(f"{path}.prefetch: must map each key to a FHIR query")
    if len(ids) != len(set(ids)):
        problems.append("$.services: a service id is listed twice for the same hook")
    return problems


def operation_outcome_problems(document: object) -> list[str]:
    """The rules a FHIR OperationOutcome breaks (resourceType, issues with severity and code)."""
    if not isinstance(document, dict) or document.get("resourceType") != "OperationOutcome":
        return ["$.resourceType: must be OperationOutcome"]
    issues = document.get("issue")
    if not isinstance(issues, list) or not issues:
        return ["$.issue: at least one issue is required"]
    problems = list(_empty_values(document, "$"))
    for index, issue in enumerate(issues):
        if not isinstance(issue, dict):
            problems.append(f"$.issue[{index}]: must be an object")
            continue
        if issue.get("severity") not in ("fatal", "error", "warning", "information"):
            problems.append(f"$.issue[{index}].severity: is required")
        problems += _text(issue.get("code"), f"$.issue[{index}].code")
    return problems
