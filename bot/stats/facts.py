"""The facts behind the figures, read from the database without any text or identifier.

Each inbound message becomes (day, topic, outcome) and each handover (reason, priority, times,
feedback); nothing else leaves this module. Messages are attributed to a team through the town
their conversation has now, since a message row carries no town of its own; handovers carry
their team, town, language and channel themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.knowledge.content import Content
from bot.stats.topics import NOT_UNDERSTOOD_INTENTS, topic_of
from bot.storage.database import as_utc
from bot.storage.tables import conversations, handovers, messages, users

ANSWERED = "Aus Inhalten beantwortet"
NOT_UNDERSTOOD = "Nicht verstanden"
HANDED_OVER = "An eine Person übergeben"
OTHER = "Sonstiges"
OUTCOMES: tuple[str, ...] = (ANSWERED, NOT_UNDERSTOOD, HANDED_OVER, OTHER)
HANDOVER_KEY = "handover.requested"  # the answer key of "your request is passed on"
_MARGIN = dt.timedelta(days=1)  # a turn's replies are stored a moment after its message


@dataclass(frozen=True)
class Window:
    """The period as UTC instants, with the filters, as `figures.StatsQuery` gives them."""

    start: dt.datetime
    end: dt.datetime
    towns: tuple[str, ...] | None  # None: all (also conversations without a town)
    team: str | None
    town: str | None
    language: str | None
    channel: str | None


@dataclass(frozen=True)
class MessageFact:
    day: dt.date  # in the district's time zone
    topic: str
    outcome: str


@dataclass(frozen=True)
class CaseFact:
    reason: str
    priority: int
    created_at: dt.datetime
    due_at: dt.datetime
    first_response_at: dt.datetime | None
    closed_at: dt.datetime | None
    feedback: str | None


async def message_facts(conn: AsyncConnection, window: Window, zone: ZoneInfo) -> list[MessageFact]:
    query = (
        sa.select(
            messages.c.conversation_id,
            messages.c.direction,
            messages.c.intent,
            messages.c.answer_key,
            messages.c.language,
            messages.c.created_at,
            messages.c.author_id,
            messages.c.outbox_id,
        )
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .join(users, users.c.id == conversations.c.user_id)
        .where(
            messages.c.created_at >= window.start - _MARGIN,
            messages.c.created_at < window.end + _MARGIN,
        )
        .order_by(messages.c.conversation_id, messages.c.id)
    )
    if window.towns is not None:
        query = query.where(conversations.c.town.in_(window.towns))
    if window.channel is not None:
        query = query.where(users.c.channel == window.channel)
    rows = (await conn.execute(query)).all()
    spans = await _handover_spans(conn, window, {row.conversation_id for row in rows})
    facts: list[MessageFact] = []
    for index, row in enumerate(rows):
        if row.direction != "in":
            continue
        moment = as_utc(row.created_at)
        if not window.start <= moment < window.end:
            continue
        if window.language is not None and row.language != window.language:
            continue
        keys = _turn_answer_keys(rows, index)
        during = any(
            start <= moment and (end is None or moment <= end)
            for start, end in spans.get(row.conversation_id, ())
        )
        facts.append(
            MessageFact(
                moment.astimezone(zone).date(), topic_of(row.intent), _outcome(row.intent, keys, during)
            )
        )
    return facts


def _turn_answer_keys(rows: Sequence[Any], index: int) -> set[str]:
    """The answer keys of the bot's replies in the turn of the inbound row at `index`.

    A turn's replies follow its message in the same conversation; a caseworker's reply or a
    notice of the desk (both delivered on their own, so with an outbox id) is no part of it.
    """
    keys: set[str] = set()
    conversation = rows[index].conversation_id
    for row in rows[index + 1 :]:
        if row.conversation_id != conversation or row.direction == "in":
            break
        if row.author_id is None and row.outbox_id is None and row.answer_key:
            keys.add(row.answer_key)
    return keys


def _outcome(intent: str | None, keys: set[str], during_handover: bool) -> str:
    if keys - {HANDOVER_KEY}:
        return ANSWERED
    if intent in NOT_UNDERSTOOD_INTENTS:
        return NOT_UNDERSTOOD
    if during_handover or intent == "human_handoff" or HANDOVER_KEY in keys:
        return HANDED_OVER
    return OTHER


async def _handover_spans(
    conn: AsyncConnection, window: Window, conversation_ids: set[int]
) -> dict[int, list[tuple[dt.datetime, dt.datetime | None]]]:
    """From request to close, per conversation: messages then went to (or waited for) a person."""
    spans: dict[int, list[tuple[dt.datetime, dt.datetime | None]]] = {}
    if not conversation_ids:
        return spans
    ids = sorted(conversation_ids)
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):  # bounded IN lists
        rows = await conn.execute(
            sa.select(handovers.c.conversation_id, handovers.c.created_at, handovers.c.closed_at).where(
                handovers.c.conversation_id.in_(chunk),
                handovers.c.created_at < window.end + _MARGIN,
            )
        )
        for row in rows:
            closed = None if row.closed_at is None else as_utc(row.closed_at)
            spans.setdefault(row.conversation_id, []).append((as_utc(row.created_at), closed))
    return spans


async def case_facts(conn: AsyncConnection, window: Window) -> list[CaseFact]:
    """Handovers requested or closed in the period (the tables tell the two apart)."""
    in_period = sa.or_(
        sa.and_(handovers.c.created_at >= window.start, handovers.c.created_at < window.end),
        sa.and_(handovers.c.closed_at >= window.start, handovers.c.closed_at < window.end),
    )
    query = sa.select(
        handovers.c.reason,
        handovers.c.priority,
        handovers.c.created_at,
        handovers.c.due_at,
        handovers.c.first_response_at,
        handovers.c.closed_at,
        handovers.c.feedback,
    ).where(in_period)
    for column, value in (
        (handovers.c.team_id, window.team),
        (handovers.c.town, window.town),
        (handovers.c.language, window.language),
        (handovers.c.channel, window.channel),
    ):
        if value is not None:
            query = query.where(column == value)
    return [
        CaseFact(
            reason=row.reason,
            priority=row.priority,
            created_at=as_utc(row.created_at),
            due_at=as_utc(row.due_at),
            first_response_at=None if row.first_response_at is None else as_utc(row.first_response_at),
            closed_at=None if row.closed_at is None else as_utc(row.closed_at),
            feedback=row.feedback,
        )
        for row in await conn.execute(query)
    ]


def window_towns(content: Content, team: str | None, town: str | None) -> tuple[str, ...] | None:
    """The towns whose conversations count: the town asked for, the team's towns, or all."""
    if town is not None:
        return (town,) if team is None or town in content.teams[team].towns else ()
    if team is not None:
        return tuple(content.teams[team].towns)
    return None
