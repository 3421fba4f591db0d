"""First-response deadlines, counted in a team's office hours.

A request that arrives on Saturday evening cannot be answered before Monday morning, and a target
that counted the weekend would be overdue before anyone could see it. So the target is a number of
office minutes: the clock runs only while the team is open (public holidays and closures included,
from the same calendar that tells refugees when the next Sprechstunde is).
"""

from __future__ import annotations

import datetime as dt

from bot.handover.priority import DEADLINE, EMERGENCY, NORMAL
from bot.knowledge.hours import Calendar
from bot.knowledge.schema import Scheduled

# Office minutes until the first answer, by priority. An emergency has already had the emergency
# numbers from the bot; the person follows within half an hour of opening.
RESPONSE_MINUTES: dict[int, int] = {EMERGENCY: 30, DEADLINE: 120, NORMAL: 480}
_SEARCH_DAYS = 120


def response_minutes(priority: int) -> int:
    return RESPONSE_MINUTES.get(priority, RESPONSE_MINUTES[NORMAL])


def first_response_due(
    calendar: Calendar, team: Scheduled | None, start: dt.datetime, priority: int
) -> dt.datetime:
    """When the first answer is due: `start` plus the target, counting only the team's open time.

    A team without regular hours (by appointment only) or without a team at all gets wall-clock
    time, so that no request ever waits without a deadline.
    """
    remaining = dt.timedelta(minutes=response_minutes(priority))
    moment = calendar.localise(start)
    if team is not None:
        for offset in range(_SEARCH_DAYS):
            for opening in calendar.openings_on(team, moment.date() + dt.timedelta(days=offset)):
                if opening.end <= moment:
                    continue
                begin = max(opening.start, moment)
                available = opening.end - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(dt.timezone.utc)
                remaining -= available
    return (moment + remaining).astimezone(dt.timezone.utc)
