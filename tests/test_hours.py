"""Office hours in Europe/Berlin with Baden-Württemberg holidays, closures and appointments."""

from __future__ import annotations

import datetime as dt

from bot.knowledge.hours import Calendar
from bot.knowledge.schema import Closure, Scheduled
from tests.conftest import berlin


def _item(**kwargs: object) -> Scheduled:
    base: dict[str, object] = {"source": "test", "last_checked": dt.date(2026, 11, 1)}
    base.update(kwargs)
    return Scheduled.parse_obj(base)


CAL = Calendar("Europe/Berlin", "BW")
TEAM = _item(hours={"mon": ["09:00-12:00"], "wed": ["14:00-17:00"], "thu": ["09:00-12:00"]})


def test_sunday_gives_monday_morning() -> None:
    nxt = CAL.next_opening(TEAM, berlin(2026, 11, 22, 15, 0))  # Sunday
    assert nxt is not None and nxt.start == berlin(2026, 11, 23, 9, 0)


def test_open_now_until_noon() -> None:
    current = CAL.current_opening(TEAM, berlin(2026, 11, 23, 10, 30))
    assert current is not None and current.end == berlin(2026, 11, 23, 12, 0)


def test_public_holidays_of_baden_wuerttemberg_are_closed() -> None:
    # Epiphany (6 January) is a holiday in BW but not in Berlin; 2027-01-06 is a Wednesday.
    assert CAL.holiday_name(dt.date(2027, 1, 6))
    nxt = CAL.next_opening(TEAM, berlin(2027, 1, 6, 8, 0))
    assert nxt is not None and nxt.start == berlin(2027, 1, 7, 9, 0)
    # Christmas 2026: Friday 25th and Saturday 26th; next opening is Monday 28th.
    nxt = CAL.next_opening(TEAM, berlin(2026, 12, 25, 10, 0))
    assert nxt is not None and nxt.start == berlin(2026, 12, 28, 9, 0)


def test_closures_skip_days_and_utc_input_is_converted() -> None:
    closed = _item(hours=TEAM.hours, closures=[Closure.parse_obj({"from": "2026-11-23", "to": "2026-11-25"})])
    nxt = CAL.next_opening(closed, dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.timezone.utc))
    assert nxt is not None and nxt.start == berlin(2026, 11, 26, 9, 0)


def test_daylight_saving_change_keeps_local_times() -> None:
    nxt = CAL.next_opening(TEAM, berlin(2026, 3, 29, 12, 0))  # DST starts that Sunday
    assert nxt is not None and nxt.start == berlin(2026, 3, 30, 9, 0)
    assert nxt.start.utcoffset() == dt.timedelta(hours=2)


def test_easter_monday_is_skipped() -> None:
    nxt = CAL.next_opening(TEAM, berlin(2027, 3, 28, 12, 0))  # Easter Sunday; Monday is a holiday
    assert nxt is not None and nxt.start == berlin(2027, 3, 31, 14, 0)
