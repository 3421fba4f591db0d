"""Checks on content that loads but needs a person's attention (warnings, never errors).

Information about offers goes out of date silently: a sports group moves, a counsellor's hours
change. Every item carries the date someone last checked it; items older than the configured age
are listed so that an editor calls or looks them up again. Hours that load but look implausible
(an office opening at 03:00, a single range of 14 hours) are listed too, because they are usually
a typo such as 18:00 for 08:00.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from bot.knowledge.content import Content, Origin
from bot.knowledge.findings import Finding
from bot.knowledge.schema import Closure, Scheduled, minutes_of

EARLIEST_PLAUSIBLE = 6 * 60  # 06:00
LATEST_PLAUSIBLE = 23 * 60  # 23:00
LONGEST_PLAUSIBLE = 12 * 60  # one range of more than 12 hours is usually a typo
ROUND_THE_CLOCK = 23 * 60 + 59  # 00:00-23:59 and 00:00-24:00 both mean "always open"


def review(content: Content, today: dt.date, max_age_days: int) -> list[Finding]:
    """Warnings for out-of-date items, finished closures and implausible hours."""
    findings: list[Finding] = []
    oldest = today - dt.timedelta(days=max_age_days)
    for key, item in _dated_items(content):
        origin = content.origins.get(key)
        if origin is None:
            continue
        checked = getattr(item, "last_checked", None)
        if isinstance(checked, dt.date) and checked < oldest:
            source = getattr(item, "source", None) or "its source"
            findings.append(
                Finding(
                    "warning",
                    origin.path,
                    origin.line_of("last_checked"),
                    f"{key} was last checked on {checked:%d.%m.%Y}, more than {max_age_days} days ago",
                    f"check it against {source} and set last_checked: {today.isoformat()}",
                )
            )
        if isinstance(item, Scheduled):
            findings.extend(_hours(key, item, origin))
            findings.extend(_closures(key, item.closures, origin, today))
    return findings


def _dated_items(content: Content) -> Iterator[tuple[str, object]]:
    yield "region", content.region
    for number in content.emergency_numbers:
        yield f"emergency:{number.id}", number
    for town in content.towns.values():
        yield f"town:{town.id}", town
    for team in content.teams.values():
        yield f"team:{team.id}", team
    for place in content.places:
        yield f"place:{place.id}", place
    for topic in content.topics.values():
        yield f"topic:{topic.key}", topic
    for reply in content.canned.values():
        yield f"canned:{reply.id}", reply
    for template in content.templates.values():
        yield f"template:{template.name}", template


def _hours(key: str, item: Scheduled, origin: Origin) -> Iterator[Finding]:
    """One warning per kind of implausible range, naming every day it stands on."""
    days: dict[tuple[str, str], list[str]] = {}
    for day, ranges in item.hours.items():
        for text in ranges:
            problem = _implausible(*minutes_of(text))
            if problem:
                days.setdefault((problem, text.strip()), []).append(day)
    for (problem, text), on in days.items():
        yield Finding(
            "warning",
            origin.path,
            origin.line_of("hours"),
            f"{key} {problem} on {', '.join(on)} ({text})",
            "check for a typo such as 18:00 for 08:00; if the hours are right, leave them",
        )


def _implausible(start: int, end: int) -> str | None:
    if start == 0 and end >= ROUND_THE_CLOCK:
        return None  # a shelter or hotline that is always open
    if start < EARLIEST_PLAUSIBLE:
        return "opens before 06:00"
    if end > LATEST_PLAUSIBLE:
        return "closes after 23:00"
    if end - start > LONGEST_PLAUSIBLE:
        return "is open for more than 12 hours at a stretch"
    return None


def _closures(key: str, closures: list[Closure], origin: Origin, today: dt.date) -> Iterator[Finding]:
    for closure in closures:
        if closure.to < today:
            yield Finding(
                "warning",
                origin.path,
                origin.line_of("closures"),
                f"{key}: the closure {closure.from_:%d.%m.%Y}–{closure.to:%d.%m.%Y} is over",
                "remove it, so that the list of closures stays short and current",
            )
