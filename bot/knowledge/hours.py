"""Office hours: who is open now, and when the next opening is.

Computed in the region's time zone (Europe/Berlin) with the public holidays of its federal state
from the maintained `holidays` library, so that a question on a Sunday or on Whit Monday gets the
real next opening and not a closed door.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from bot.knowledge.schema import WEEKDAYS, Scheduled

_SEARCH_DAYS = 60


@dataclass(frozen=True)
class Opening:
    """One opening interval, as aware datetimes in the region's time zone."""

    start: dt.datetime
    end: dt.datetime


@lru_cache(maxsize=16)
def _holidays(subdivision: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("DE", subdiv=subdivision, years=year, language="de")


class Calendar:
    """The region's clock: time zone and public holidays."""

    def __init__(self, timezone: str = "Europe/Berlin", subdivision: str = "BW") -> None:
        self.tz = ZoneInfo(timezone)
        self.subdivision = subdivision

    def localise(self, moment: dt.datetime) -> dt.datetime:
        if moment.tzinfo is None:
            return moment.replace(tzinfo=self.tz)
        return moment.astimezone(self.tz)

    def holiday_name(self, day: dt.date) -> str | None:
        name = _holidays(self.subdivision, day.year).get(day)
        return str(name) if name else None

    def openings_on(self, item: Scheduled, day: dt.date) -> list[Opening]:
        """The intervals an item is open on one calendar day (none on holidays and closures)."""
        if not item.open_on_holidays and self.holiday_name(day):
            return []
        if any(c.from_ <= day <= c.to for c in item.closures):
            return []
        result = []
        for text in item.hours.get(WEEKDAYS[day.weekday()], []):
            start_s, end_s = text.strip().split("-")
            start = dt.datetime.combine(day, _parse_time(start_s), tzinfo=self.tz)
            end = (
                dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0), tzinfo=self.tz)
                if end_s == "24:00"
                else dt.datetime.combine(day, _parse_time(end_s), tzinfo=self.tz)
            )
            result.append(Opening(start, end))
        return result

    def current_opening(self, item: Scheduled, now: dt.datetime) -> Opening | None:
        """The interval the item is open in right now, if any."""
        now = self.localise(now)
        for opening in self.openings_on(item, now.date()):
            if opening.start <= now < opening.end:
                return opening
        return None

    def next_opening(self, item: Scheduled, now: dt.datetime) -> Opening | None:
        """The next interval that starts after `now` (within two months), if any."""
        now = self.localise(now)
        for offset in range(_SEARCH_DAYS):
            day = now.date() + dt.timedelta(days=offset)
            for opening in self.openings_on(item, day):
                if opening.start > now:
                    return opening
        return None

    def closure_on(self, item: Scheduled, day: dt.date) -> str | None:
        """Why an item with regular hours that day is closed: holiday name or closure note."""
        if not item.hours.get(WEEKDAYS[day.weekday()]):
            return None
        if not item.open_on_holidays:
            name = self.holiday_name(day)
            if name:
                return name
        for closure in item.closures:
            if closure.from_ <= day <= closure.to:
                return closure.note or "geschlossen"
        return None


def _parse_time(text: str) -> dt.time:
    hour, minute = text.split(":")
    return dt.time(int(hour), int(minute))
