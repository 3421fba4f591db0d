"""The outbox sender against a channel that keeps saying "wait"."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine.messages import Button, Outbound
from bot.pipeline.bell import Bell
from bot.pipeline.channel import Limits
from bot.pipeline.errors import RetryLater
from bot.pipeline.sender import MAX_ATTEMPTS, OutboxSender
from bot.storage.deliveries import Deliveries, InboxItem, enqueue
from bot.storage.tables import outbox

LIMITS = Limits(per_second=1000, per_chat_interval=0, max_length=4096)


class FloodChannel:
    """Answers the first `refusals` sends with "wait `retry_after` seconds" (Telegram's 429), then accepts."""

    name = "flooded"
    limits: Limits | None = LIMITS

    def __init__(self, refusals: int, retry_after: float) -> None:
        self.refusals = refusals
        self.retry_after = retry_after
        self.calls = 0
        self.delivered: list[str] = []

    async def acknowledge(self, item: InboxItem) -> None: ...

    async def show_typing(self, chat_id: str) -> None: ...

    async def send(self, chat_id: str, text: str, buttons: Sequence[Button], language: str) -> str | None:
        self.calls += 1
        if self.calls <= self.refusals:
            raise RetryLater("Flood control exceeded", retry_after=self.retry_after)
        self.delivered.append(text)
        return None

    async def send_template(self, chat_id: str, template: object, language: str) -> str | None:
        raise NotImplementedError


async def _deliver(database: AsyncEngine, channel: FloodChannel) -> str:
    """Queue one message, run the sender until the row is no longer pending, return its status."""
    now = dt.datetime.now(dt.timezone.utc)
    async with database.begin() as conn:
        await enqueue(conn, channel.name, "chat-1", [Outbound("Hallo")], "de", now)
    sender = OutboxSender(
        Deliveries(database),
        channel,  # type: ignore[arg-type]
        LIMITS,
        Bell(),
        lambda: dt.datetime.now(dt.timezone.utc),
        poll_interval=0.01,
    )
    loop = asyncio.create_task(sender.run())
    try:
        for _ in range(6000):
            async with database.connect() as conn:
                status = (
                    await conn.execute(sa.select(outbox.c.status).where(outbox.c.channel == channel.name))
                ).scalar_one()
            if status in ("sent", "failed"):
                return str(status)
            await asyncio.sleep(0.01)
        raise AssertionError(f"still {status} after {channel.calls} calls")
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


async def test_flood_waits_do_not_use_up_the_attempts_for_outages(database: AsyncEngine) -> None:
    """A 429 says "wait", not "failed": more of them than MAX_ATTEMPTS must still end in delivery."""
    channel = FloodChannel(refusals=MAX_ATTEMPTS + 10, retry_after=0.0)
    assert await _deliver(database, channel) == "sent"
    assert channel.delivered == ["Hallo"]
