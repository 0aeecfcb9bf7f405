"""FHIR dates and times: ordering them, and counting years and weeks back from the reference date.

FHIR writes a date to the year, the month or the day, and a dateTime with a time zone. The models give
a partial date as text (``"2024"``, ``"2024-03"``), a whole one as a ``date`` and a time as an aware
``datetime``. A time without a zone, or a date, covers a whole day somewhere on Earth: as a span of
instants it is widened by the extreme zone offsets (UTC-12 to UTC+14), so that an order is only ever
claimed where it holds in every zone.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

__all__ = ["Moment", "moment"]

_EAST: Final = timedelta(hours=14)
_WEST: Final = timedelta(hours=12)
_PARTIAL: Final = re.compile(r"(\d{4})(?:-(\d{2}))?")
WEEK_DIGITS: Final = 4
"""Weeks are kept to 1/10,000 (one minute): finer than any record of onset or care, and what lets a
week count written as a time be read back unchanged."""


@dataclass(frozen=True)
class Moment:
    """A FHIR date or time: ``value`` is an aware ``datetime`` (a time), a ``date`` (a day), or the
    first and last day of a partial date."""

    value: datetime | date | tuple[date, date]

    @property
    def days(self) -> tuple[date, date]:
        """The earliest and latest calendar day the moment may fall on (one day for a date or a time,
        a time on its own day)."""
        value = self.value
        if isinstance(value, tuple):
            return value
        day = value.date() if isinstance(value, datetime) else value
        return day, day

    @property
    def first_day(self) -> date:
        """The earliest calendar day the moment may fall on."""
        return self.days[0]

    @property
    def last_day(self) -> date:
        """The latest calendar day the moment may fall on."""
        return self.days[1]

    @property
    def day(self) -> date | None:
        """The calendar day, or None when the moment is only known to the month or year."""
        return None if isinstance(self.value, tuple) else self.first_day

    def span(self) -> tuple[datetime, datetime]:
        """The earliest and latest instant the moment may be, in UTC."""
        value = self.value
        if isinstance(value, datetime):
            if value.tzinfo is not None and value.utcoffset() is not None:
                instant = value.astimezone(UTC)
                return instant, instant
            local = value.replace(tzinfo=UTC)
            return local - _EAST, local + _WEST
        first, last = self.first_day, self.last_day
        start = datetime(first.year, first.month, first.day, tzinfo=UTC) - _EAST
        end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1) + _WEST
        return start, end

    def surely_after(self, other: Moment) -> bool:
        """Whether this moment is later than ``other`` in every time zone and at every precision."""
        return self.span()[0] > other.span()[1]

    def text(self) -> str:
        """The moment as FHIR writes it."""
        value = self.value
        if isinstance(value, tuple):
            first, last = value
            return (
                f"{first.year}" if first.month == 1 and last.month == 12 else f"{first.year}-{first.month:02}"
            )
        return value.isoformat()

    def weeks_since(self, earlier: Moment) -> float | None:
        """Weeks from ``earlier`` to this moment, or None when either is known only to the month or year.

        Two times with zones are counted to the second; otherwise the count is of calendar days, each
        moment taken on its own day.
        """
        mine, theirs = self.value, earlier.value
        if isinstance(mine, tuple) or isinstance(theirs, tuple):
            return None
        if _zoned(mine) and _zoned(theirs):
            assert isinstance(mine, datetime) and isinstance(theirs, datetime)
            seconds = (mine - theirs).total_seconds()
            return round(seconds / timedelta(weeks=1).total_seconds(), WEEK_DIGITS)
        days = (self.first_day - earlier.first_day).days
        return round(days / 7, WEEK_DIGITS)

    def years_since(self, birth: Moment) -> tuple[int, int]:
        """Whole years from ``birth`` to this moment: the fewest and the most a partial date allows."""
        today = self.first_day
        return _years(birth.last_day, today), _years(birth.first_day, today)


def _zoned(value: datetime | date) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None and value.utcoffset() is not None


def _years(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def moment(value: object) -> Moment | None:
    """A FHIR date, dateTime or instant as the models give it, or None when it is not one."""
    if isinstance(value, datetime | date):
        return Moment(value)
    if isinstance(value, str):
        match = _PARTIAL.fullmatch(value)
        if match is None:
            return None
        year = int(match.group(1))
        if match.group(2) is None:
            return Moment((date(year, 1, 1), date(year, 12, 31)))
        month = int(match.group(2))
        if not 1 <= month <= 12:
            return None
        return Moment((date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])))
    return None
