"""Processing the inbox: claim, run the engine, and let the transaction move the row to done.

The engine writes the replies to the outbox and marks the inbox row done in the turn's own
transaction, so a crash anywhere before the commit leaves the row pending (it is processed again
once its lease runs out) and a crash after it leaves nothing to do. A message that keeps failing
is retried with backoff and then given up with an apology, so that it never blocks its chat.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from bot.engine.engine import Engine
from bot.pipeline.bell import Bell, ring_for_chat
from bot.pipeline.channel import Channel
from bot.pipeline.claims import ClaimLoop
from bot.pseudonyms import who
from bot.storage.deliveries import Deliveries, InboxItem
from bot.storage.errors import ClaimLost

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


class InboxWorker(ClaimLoop[InboxItem]):
    def __init__(
        self,
        deliveries: Deliveries,
        engine: Engine,
        channels: Mapping[str, Channel],
        bell: Bell,
        clock: Callable[[], dt.datetime],
        concurrency: int = 8,
        poll_interval: float = 1.0,
        typing_after: float = 0.3,
    ) -> None:
        super().__init__(bell, "inbox", concurrency, poll_interval)
        self.deliveries = deliveries
        self.engine = engine
        self.channels = channels
        self.clock = clock
        self.typing_after = typing_after  # most answers take milliseconds: no indicator for those

    async def claim(self, limit: int, busy: Sequence[int]) -> list[InboxItem]:
        return await self.deliveries.claim_inbox(limit, self.clock(), busy=busy)

    async def work(self, item: InboxItem) -> None:
        await self.answer(item)

    async def answer(self, item: InboxItem) -> bool:
        """Run the turn of a claimed row; True when its answer is committed."""
        inbound = item.inbound
        channel = self.channels.get(inbound.channel)
        # Feedback goes out while the engine works and is awaited before the answer may be sent, so it
        # never arrives after the answer. Most answers take milliseconds: a typing indicator is shown
        # only when one takes longer than `typing_after` (it would only cost a request otherwise).
        feedback = _Feedback(channel, item, self.typing_after) if channel is not None else None
        try:
            await self.engine.handle(inbound)
        except ClaimLost:
            log.warning("inbox row %s was taken over by another worker; its answer is theirs", item.id)
            return False
        except Exception as exc:
            await self._failed(item, exc)
            return False
        finally:
            if feedback is not None:
                await feedback.finish()
        # The row id and the keyed pseudonym, never the text: with several workers on one database,
        # each one's log shows which rows it answered.
        log.info(
            "inbox row %s answered for %s (attempt %s)",
            item.id,
            who(inbound.channel, inbound.user_id),
            item.attempts,
        )
        ring_for_chat(self.bell, inbound.channel, inbound.user_id)
        return True

    async def _failed(self, item: InboxItem, exc: Exception) -> None:
        now = self.clock()
        error = f"{type(exc).__name__}: {exc}"
        log.error(
            "inbox row %s from %s failed (attempt %s): %s",
            item.id,
            who(item.inbound.channel, item.inbound.user_id),
            item.attempts,
            type(exc).__name__,
        )
        try:
            if item.attempts < MAX_ATTEMPTS:
                backoff = dt.timedelta(seconds=min(60, 2**item.attempts))
                await self.deliveries.retry_inbox(item, error, now + backoff)
            else:
                notice, language = self.engine.failure_notice(item.inbound)
                await self.deliveries.fail_inbox(item, error, now, notice, language)
                self.bell.ring(("outbox", item.inbound.channel))
                self.bell.ring(("chat", item.inbound.channel, item.inbound.user_id))
        except Exception:  # the lease runs out and the row is taken up again
            log.exception("recording the failure of inbox row %s failed", item.id)


class _Feedback:
    """Acknowledge at once; show typing only if the answer is not ready after `typing_after`."""

    def __init__(self, channel: Channel, item: InboxItem, typing_after: float) -> None:
        self.channel, self.chat_id = channel, item.inbound.user_id
        self.acknowledged = asyncio.create_task(_courtesy(channel.acknowledge(item)))
        self.typing: asyncio.Task[None] | None = None
        self.timer = (
            asyncio.get_running_loop().call_later(typing_after, self._type)
            if item.inbound.kind != "group"
            else None
        )

    def _type(self) -> None:
        self.typing = asyncio.create_task(_courtesy(self.channel.show_typing(self.chat_id)))

    async def finish(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        await self.acknowledged
        if self.typing is not None:
            await self.typing


async def _courtesy(call: Awaitable[None]) -> None:
    try:
        await asyncio.wait_for(call, timeout=2)
    except Exception as exc:  # feedback is a courtesy; the answer matters
        log.info("channel feedback failed: %s", type(exc).__name__)
