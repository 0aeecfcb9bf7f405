"""What reading FHIR gives: the case with where each member came from, or the problems found."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from vertaid.domain._shapes import Problem
from vertaid.domain.case import InvalidCase

__all__ = ["FhirCase", "InvalidBundle"]


class InvalidBundle(InvalidCase):
    """A Bundle (or CDS Hooks prefetch) that cannot be read as a case.

    ``problems`` are ``(where, message)`` pairs; ``where`` names the resource (``Observation/nrs-2``, or
    its place in the Bundle when it has no id) and the element (``valueInteger``), e.g.
    ``("Observation/nrs-2.valueInteger", "12 is more than 10")``. Being an :class:`InvalidCase`, it is
    handled wherever an invalid case is (the command line's exit code 2).
    """


_INDEX: Final = re.compile(r"\[\d+\]")


@dataclass(frozen=True)
class FhirCase:
    """A ``vertaid.case/1`` read from FHIR, with the resource and element each member came from.

    ``sources`` maps a case path (``pain.nrs``, ``fractures[0].onset_weeks``) to where its value was read
    (``Observation/nrs-2.valueInteger``); ``hints`` maps a case path in the table's form
    (``fractures[].level``) to what the input would need to hold to fill it.
    """

    case: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    hints: dict[str, str] = field(default_factory=dict)

    def explain(self, problems: list[Problem]) -> list[Problem]:
        """The case model's problems, each told in terms of the FHIR input it came from.

        A problem with a value read from a resource names that resource and element; a required member
        that no resource filled says what resource would.
        """
        explained = []
        for path, message in problems:
            source = self._source_of(path)
            if source is not None:
                explained.append((source, f"{message} (as {path})"))
                continue
            hint = self.hints.get(_INDEX.sub("[]", path))
            if hint is not None:
                explained.append((path, f"{message}: {hint}"))
            else:
                explained.append((path, message))
        return explained

    def _source_of(self, path: str) -> str | None:
        # A problem inside a member (morphometry_mm.anterior) belongs to the resource that gave the member.
        while path:
            if path in self.sources:
                return self.sources[path]
            if "." not in path:
                return None
            path = path.rsplit(".", 1)[0]
        return None
