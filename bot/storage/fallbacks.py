"""The questions Lotse did not understand, for the editors who decide what to write next.

Only what a person typed counts: a pressed button that no longer exists, a photo or a command is
a fallback too, but says nothing about missing content. The newest come first and the number is
bounded, so that a busy month costs one bounded query and never the whole table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine.understanding import FALLBACK_INTENT
from bot.storage.database import as_utc, reader
from bot.storage.tables import messages

DEFAULT_DAYS = 30
MAX_FALLBACKS = 2000


@dataclass(frozen=True)
class Unanswered:
    """One message that ended in the fallback: its text, the language Lotse answered in, and when."""

    text: str
    language: str | None
    created_at: dt.datetime


async def recent_fallbacks(
    engine: AsyncEngine,
    since: dt.datetime,
    language: str | None = None,
    limit: int = MAX_FALLBACKS,
) -> list[Unanswered]:
    """Typed messages since `since` that Lotse did not understand, newest first, at most `limit`."""
    query = (
        sa.select(messages.c.text, messages.c.language, messages.c.created_at)
        .where(
            messages.c.direction == "in",
            messages.c.intent == FALLBACK_INTENT,
            messages.c.kind == "text",
            messages.c.payload.is_(None),
            messages.c.text != "",
            messages.c.created_at >= since,
        )
        .order_by(messages.c.id.desc())
        .limit(max(0, limit))
    )
    if language is not None:
        query = query.where(messages.c.language == language)
    async with reader(engine).connect() as conn:
        rows = (await conn.execute(query)).all()
    return [Unanswered(row.text, row.language, as_utc(row.created_at)) for row in rows]
