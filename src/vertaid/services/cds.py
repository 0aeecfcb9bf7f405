"""CDS Hooks 2.0.1 cards from an assessment: what the EHR shows where a procedure is considered or ordered.

Pure: an assessment, the knowledge pack and the orders in, cards out (JSON-ready dicts, every optional
member left out rather than null or empty). The engine has decided; a card says what the assessment says,
in words from the pack's ``cds.yaml``, and never decides anything of its own. Which card an order gets
follows from the assessment's decision:

- a decision made by a critical step (a red flag, a contraindication): ``critical``, with a suggestion
  to remove the order;
- the ordered procedure, or either: the order agrees (``info``);
- the other procedure: a ``warning`` with a suggestion to switch the order;
- anything else (non-surgical care for now, further work-up): a ``warning`` that the order is premature,
  with a suggestion to remove it;

and every augmentation order also gets the Medicare LCD criteria still unmet, when there are any.
Card and suggestion uuids are made from the hook instance, so the same call gives the same cards.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from vertaid.domain._shapes import Problem, describe
from vertaid.domain.pack import CdsCard, CdsWording, KnowledgePack, OrderCode

__all__ = [
    "AUGMENTATION",
    "MAX_PROBLEMS_SHOWN",
    "AugmentationOrder",
    "CardContext",
    "InvalidOrders",
    "augmentation_orders",
    "critical_decisions",
    "escape_markdown",
    "order_cards",
    "recommendation_card",
    "unreadable_card",
]

AUGMENTATION: Final = ("kyphoplasty", "vertebroplasty")
_EITHER: Final = "either"
MAX_PROBLEMS_SHOWN: Final = 20
"""The most problems an unreadable-record card lists (the rest are counted)."""

_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "https://vertaid.org/cds-hooks/cards")
_MARKDOWN: Final = re.compile(r"([\\`*_\[\]<>#|~&])")


class InvalidOrders(ValueError):
    """The draft orders of an order hook cannot be read; ``problems`` are ``(path, message)`` pairs."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))


@dataclass(frozen=True)
class CardContext:
    """What the cards of one call need besides the assessment: who asked, and where the links point.

    ``home_url`` is vertaid's address (the cards' ``source.url``); ``decision_aid_url`` and
    ``clinician_url`` are the stored assessment's pages, when it was stored.
    """

    hook_instance: str
    service_id: str
    home_url: str | None = None
    decision_aid_url: str | None = None
    clinician_url: str | None = None


@dataclass(frozen=True)
class AugmentationOrder:
    """A draft ServiceRequest for vertebroplasty or kyphoplasty: its reference, the resource as the
    client sent it, and the procedure code it carries."""

    reference: str
    resource: Mapping[str, Any]
    code: OrderCode


def escape_markdown(text: str) -> str:
    """``text`` with the characters Markdown (and the HTML it allows) would read escaped."""
    return _MARKDOWN.sub(r"\\\1", text)


def critical_decisions(pack: KnowledgePack) -> frozenset[str]:
    """The decisions of the steps the pack calls critical (red flags, contraindications)."""
    return frozenset(step.decision for step in pack.steps if step.id in pack.cds.critical_steps)


# -- orders --------------------------------------------------------------------------------------


def _order_code(resource: Mapping[str, Any], wording: CdsWording) -> OrderCode | None:
    code = resource.get("code")
    codings = code.get("coding") if isinstance(code, dict) else None
    if not isinstance(codings, list):
        return None
    for coding in codings:
        if isinstance(coding, dict) and coding.get("system") == wording.order_system:
            found = wording.order_codes.get(str(coding.get("code")))
            if found is not None:
                return found
    return None


def augmentation_orders(
    draft_orders: object, selections: Sequence[str] | None, wording: CdsWording
) -> list[AugmentationOrder]:
    """The vertebroplasty and kyphoplasty orders among a hook's draft orders, in their order.

    Args:
        draft_orders: the hook's ``context.draftOrders``, a Bundle of draft order resources.
        selections: for order-select, the ``context.selections`` (``ServiceRequest/id``): only the orders
            just selected are read; ``None`` reads every draft order (order-sign).
        wording: the pack's CDS words, which list the procedure codes.

    Raises:
        InvalidOrders: when ``draftOrders`` is not a Bundle of resources, or ``selections`` not a list
            of references.
    """
    problems: list[Problem] = []
    if not isinstance(draft_orders, dict) or draft_orders.get("resourceType") != "Bundle":
        raise InvalidOrders([("context.draftOrders", f"{describe(draft_orders)} is not a FHIR Bundle")])
    entries = draft_orders.get("entry", [])
    if not isinstance(entries, list):
        raise InvalidOrders([("context.draftOrders.entry", f"{describe(entries)} is not a list")])
    if selections is not None and not all(isinstance(selection, str) for selection in selections):
        raise InvalidOrders([("context.selections", "is not a list of references (Type/id)")])
    orders = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        where = f"context.draftOrders.entry[{index}]"
        if not isinstance(resource, dict):
            problems.append((where, "has no resource"))
            continue
        if resource.get("resourceType") != "ServiceRequest":
            continue
        resource_id = resource.get("id")
        reference = f"ServiceRequest/{resource_id}" if isinstance(resource_id, str) else None
        if selections is not None and reference not in selections:
            continue
        code = _order_code(resource, wording)
        if code is None:
            continue
        if reference is None:
            problems.append((f"{where}.resource.id", "an order the service comments on needs its id"))
            continue
        orders.append(AugmentationOrder(reference, resource, code))
    if problems:
        raise InvalidOrders(problems)
    return orders


# -- the parts of a card ------------------------------------------------------------------------


def _uuid(context: CardContext, *parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\n".join((context.hook_instance, context.service_id, *parts))))


def _override_reasons(card: CdsCard, wording: CdsWording) -> list[dict[str, str]]:
    return [
        {"system": wording.override_system, "code": code, "display": wording.override_reasons[code]}
        for code in card.override_reasons
    ]


def _links(pack: KnowledgePack, context: CardContext) -> list[dict[str, str]]:
    labels = pack.cds.labels
    links = []
    if context.decision_aid_url is not None:
        links.append(
            {"label": labels["decision_aid_link"], "url": context.decision_aid_url, "type": "absolute"}
        )
    if context.clinician_url is not None:
        links.append({"label": labels["clinician_link"], "url": context.clinician_url, "type": "absolute"})
    return links


def _source(pack: KnowledgePack, context: CardContext) -> dict[str, str]:
    source = {"label": pack.cds.source_label}
    if context.home_url is not None:
        source["url"] = context.home_url
    return source


def _reasons(assessment: Mapping[str, Any], pack: KnowledgePack) -> list[Mapping[str, Any]]:
    """The findings behind the assessment's decision: the critical steps' findings for a decision they
    made, the factors for an augmentation decision, else the findings of the step that decided."""
    decision = assessment["decision"]
    if decision in critical_decisions(pack):
        steps = set(pack.cds.critical_steps)
    elif decision in (*AUGMENTATION, _EITHER):
        steps = {factor.step for factor in pack.choice.factors}
    else:
        steps = {step.id for step in pack.steps if step.decision == decision}
    return [finding for finding in assessment["findings"] if finding["step"] in steps]


def _section(heading: str, items: Sequence[str]) -> list[str]:
    if not items:
        return []
    return ["", f"**{escape_markdown(heading)}**", "", *(f"- {item}" for item in items)]


def _finding_line(finding: Mapping[str, Any]) -> str:
    line = escape_markdown(finding["text"])
    if finding.get("weight") is not None:
        line += f" ({finding['weight']:+d})"
    if finding.get("sources"):
        line += " (" + escape_markdown(", ".join(finding["sources"])) + ")"
    return line


def _detail(assessment: Mapping[str, Any], pack: KnowledgePack, *, coverage: bool = True) -> str:
    labels = pack.cds.labels
    lines = [escape_markdown(assessment["summary"])]
    lines += _section(labels["why"], [_finding_line(finding) for finding in _reasons(assessment, pack)])
    lines += _section(labels["cautions"], [_finding_line(caution) for caution in assessment["cautions"]])
    lines += _section(
        labels["missing"],
        [
            f"{escape_markdown(item['field'])}: {escape_markdown(item['why'])}"
            for item in assessment["missing"]
        ],
    )
    if coverage:
        lines += _section(
            labels["coverage_unmet"],
            [escape_markdown(item) for item in assessment["coverage"]["medicare_lcd"]["unmet"]],
        )
    knowledge = assessment["knowledge"]
    pack_line = f"{labels['knowledge']}: {knowledge['id']} {knowledge['version']}"
    lines += ["", escape_markdown(f"{pack_line} (sha256 {knowledge['digest'][:12]})")]
    return "\n".join(lines)


def _card(
    *,
    uuid_text: str,
    summary: str,
    indicator: str,
    detail: str,
    pack: KnowledgePack,
    context: CardContext,
    suggestions: list[dict[str, Any]] | None = None,
    override_reasons: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A card with only the members that have a value (CDS Hooks: never null, never empty)."""
    card: dict[str, Any] = {
        "uuid": uuid_text,
        "summary": summary,
        "indicator": indicator,
        "detail": detail,
        "source": _source(pack, context),
    }
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "at-most-one"
    if override_reasons:
        card["overrideReasons"] = override_reasons
    links = _links(pack, context)
    if links:
        card["links"] = links
    return card


# -- the cards ----------------------------------------------------------------------------------


def _terms(assessment: Mapping[str, Any], wording: CdsWording) -> dict[str, str]:
    """The values of the placeholders an assessment fills."""
    return {
        "levels": wording.levels(list(assessment["target_levels"])),
        "strength": wording.strengths.get(assessment.get("strength") or "", ""),
    }


def recommendation_card(
    assessment: Mapping[str, Any], pack: KnowledgePack, context: CardContext
) -> dict[str, Any]:
    """patient-view: the recommendation, its reasons, what could change it, and the decision aid."""
    wording = pack.cds
    card = wording.cards["recommendation"]
    decision = assessment["decision"]
    return _card(
        uuid_text=_uuid(context, "recommendation"),
        summary=card.summary_for(decision).format(**_terms(assessment, wording)),
        indicator=card.indicator_for(decision),
        detail=_detail(assessment, pack),
        pack=pack,
        context=context,
    )


def _replaced(order: AugmentationOrder, wording: CdsWording) -> dict[str, Any]:
    """The draft order with its code changed to the other procedure's code for the same region."""
    counterpart = wording.order_codes[order.code.counterpart]
    resource = copy.deepcopy(dict(order.resource))
    # The other codings and the text name the procedure being replaced, so they go with it.
    resource["code"] = {
        "coding": [
            {"system": wording.order_system, "code": counterpart.code, "display": counterpart.display}
        ],
        "text": counterpart.display,
    }
    return resource


def _switch(
    orders: Sequence[AugmentationOrder], label: str, wording: CdsWording, context: CardContext, procedure: str
) -> dict[str, Any]:
    actions = []
    for order in orders:
        counterpart = wording.order_codes[order.code.counterpart]
        actions.append(
            {
                "type": "update",
                "description": f"{label}: {order.reference}, {counterpart.display} ({counterpart.code})",
                "resource": _replaced(order, wording),
            }
        )
    return {
        "label": label,
        "uuid": _uuid(context, "switch", procedure),
        "isRecommended": True,
        "actions": actions,
    }


def _removal(
    orders: Sequence[AugmentationOrder], label: str, context: CardContext, procedure: str
) -> dict[str, Any]:
    return {
        "label": label,
        "uuid": _uuid(context, "remove", procedure),
        "isRecommended": True,
        "actions": [
            {"type": "delete", "description": f"{label}: {order.reference}", "resourceId": order.reference}
            for order in orders
        ],
    }


def _order_card(
    assessment: Mapping[str, Any],
    pack: KnowledgePack,
    context: CardContext,
    procedure: str,
    orders: Sequence[AugmentationOrder],
) -> dict[str, Any]:
    wording = pack.cds
    decision = assessment["decision"]
    terms = {**_terms(assessment, wording), "ordered": wording.procedures[procedure]}
    if decision in critical_decisions(pack):
        kind = "order_critical"
    elif decision in (procedure, _EITHER):
        kind = "order_agrees"
    elif decision in AUGMENTATION:
        kind = "order_other_favoured"
        terms["favoured"] = wording.procedures[decision]
    else:
        kind = "order_not_yet"
        terms["advice"] = wording.advice[decision]
    card = wording.cards[kind]
    label = (card.suggestion or "").format(**terms)
    suggestions = []
    if kind == "order_other_favoured":
        suggestions.append(_switch(orders, label, wording, context, procedure))
    elif kind in ("order_critical", "order_not_yet"):
        suggestions.append(_removal(orders, label, context, procedure))
    return _card(
        uuid_text=_uuid(context, kind, procedure),
        summary=card.summary_for(decision).format(**terms),
        indicator=card.indicator_for(decision),
        # The LCD criteria have a card of their own beside an order.
        detail=_detail(assessment, pack, coverage=False),
        pack=pack,
        context=context,
        suggestions=suggestions,
        override_reasons=_override_reasons(card, wording),
    )


def _coverage_card(
    assessment: Mapping[str, Any], pack: KnowledgePack, context: CardContext, procedure: str
) -> dict[str, Any] | None:
    lcd = assessment["coverage"]["medicare_lcd"]
    if not lcd["unmet"]:
        return None
    wording = pack.cds
    card = wording.cards["coverage_unmet"]
    terms = {
        "ordered": wording.procedures[procedure],
        "count": str(len(lcd["unmet"])),
        "total": str(len(lcd["items"])),
    }
    lines = [f"**{escape_markdown(wording.labels['coverage_unmet'])}**", ""]
    lines += [f"- {escape_markdown(item)}" for item in lcd["unmet"]]
    lines += ["", escape_markdown(", ".join(lcd["sources"]))]
    return _card(
        uuid_text=_uuid(context, "coverage_unmet"),
        summary=card.summary_for(assessment["decision"]).format(**terms),
        indicator=card.indicator_for(assessment["decision"]),
        detail="\n".join(lines),
        pack=pack,
        context=context,
        override_reasons=_override_reasons(card, wording),
    )


def order_cards(
    assessment: Mapping[str, Any],
    pack: KnowledgePack,
    orders: Sequence[AugmentationOrder],
    context: CardContext,
) -> list[dict[str, Any]]:
    """order-select and order-sign: one card per procedure ordered, then the Medicare LCD criteria still
    unmet (one card, naming the first procedure ordered). No orders, no cards."""
    by_procedure: dict[str, list[AugmentationOrder]] = {}
    for order in orders:
        by_procedure.setdefault(order.code.procedure, []).append(order)
    cards = [
        _order_card(assessment, pack, context, procedure, grouped)
        for procedure, grouped in by_procedure.items()
    ]
    if by_procedure:
        coverage = _coverage_card(assessment, pack, context, next(iter(by_procedure)))
        if coverage is not None:
            cards.append(coverage)
    return cards


def unreadable_card(
    problems: Sequence[Problem],
    pack: KnowledgePack,
    context: CardContext,
    orders: Sequence[AugmentationOrder] = (),
) -> dict[str, Any]:
    """A card saying the record could not be assessed, and what in it needs attention (for an order,
    naming the procedure ordered)."""
    wording = pack.cds
    if orders:
        card = wording.cards["order_unreadable"]
        summary = (card.summary or "").format(ordered=wording.procedures[orders[0].code.procedure])
    else:
        card = wording.cards["unreadable"]
        summary = card.summary or ""
    items = [f"{escape_markdown(where)}: {escape_markdown(message)}" for where, message in problems]
    if len(items) > MAX_PROBLEMS_SHOWN:
        items = [*items[:MAX_PROBLEMS_SHOWN], f"(+{len(items) - MAX_PROBLEMS_SHOWN})"]
    return _card(
        uuid_text=_uuid(context, "unreadable"),
        summary=summary,
        indicator=card.indicator or "",
        detail="\n".join(_section(wording.labels["problems"], items)).strip(),
        pack=pack,
        context=context,
    )
