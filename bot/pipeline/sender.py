"""Delivering the outbox of one push channel, within its platform's limits.

Per chat, messages go out strictly in order: the claim query never hands out a chat's next
message while an earlier one is still pending or being sent. Long texts are split into parts and
the number of parts sent is stored, so that a retry does not repeat what already arrived.

Delivery to the platform is at-least-once at its very edge: if the process dies after the platform
accepted a message but before the row was marked sent, that one message is sent again after the
restart. Bot APIs offer no idempotency key that would close this window; it is kept to one
short database write.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

from bot.channels.text import split_text
from bot.pipeline.bell import Bell
from bot.pipeline.channel import Channel, Limits
from bot.pipeline.claims import ClaimLoop
from bot.pipeline.errors import RetryLater, Undeliverable
from bot.pipeline.limits import RateLimiter
from bot.pseudonyms import who
from bot.storage.deliveries import Deliveries, OutboxItem

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 30  # with backoff capped at a minute: about half an hour of outage
MAX_BACKOFF = 60.0


class OutboxSender(ClaimLoop[OutboxItem]):
    def __init__(
        self,
        deliveries: Deliveries,
        channel: Channel,
        limits: Limits,
        bell: Bell,
        clock: Callable[[], dt.datetime],
        concurrency: int = 16,
        poll_interval: float = 0.5,
    ) -> None:
        super().__init__(bell, ("outbox", channel.name), concurrency, poll_interval)
        self.deliveries = deliveries
        self.channel = channel
        self.limits = limits
        self.limiter = RateLimiter(limits.per_second, limits.per_chat_interval)
        self.clock = clock

    async def claim(self, limit: int, busy: Sequence[int]) -> list[OutboxItem]:
        return await self.deliveries.claim_outbox(
            self.channel.name, self.clock(), limit, ready=self.limiter.chat_ready, busy=busy
        )

    def idle_timeout(self) -> float:
        held = self.limiter.next_ready_in()  # a chat held back by its limit may receive again then
        return max(0.005, self.poll_interval if held is None else min(self.poll_interval, held))

    async def work(self, item: OutboxItem) -> None:
        parts = self._parts(item)
        sent = item.parts_sent
        external_id: str | None = None
        try:
            if item.message.template is not None:
                await self.limiter.acquire(item.chat_id)
                external_id = await self.channel.send_template(
                    item.chat_id, item.message.template, item.language
                )
            while sent < len(parts):
                last = sent == len(parts) - 1
                await self.limiter.acquire(item.chat_id)
                external_id = await self.channel.send(
                    item.chat_id, parts[sent], item.message.buttons if last else (), item.language
                )
                sent += 1
                if not last:
                    await persist(partial(self.deliveries.progress, item, sent))
            await persist(lambda: self.deliveries.sent(item, self.clock(), external_id))
        except RetryLater as exc:
            await self._retry(item, exc)
        except Undeliverable as exc:
            log.warning(
                "outbox row %s to %s undeliverable on %s: %s",
                item.id,
                self._who(item),
                self.channel.name,
                exc,
            )
            await self.deliveries.fail_outbox(item, str(exc))
        except Exception as exc:  # a bug or the database: keep the row, try again later
            log.exception("delivering outbox row %s to %s failed", item.id, self._who(item))
            # only the type: the message of an unexpected error may quote the text or the chat
            await self._retry(item, RetryLater(type(exc).__name__))

    def _who(self, item: OutboxItem) -> str:
        return who(self.channel.name, item.chat_id)

    def _parts(self, item: OutboxItem) -> list[str]:
        if item.message.template is not None:
            return []  # the template is the whole message; its text is only the transcript's
        shorter = self.limits.max_with_buttons if item.message.buttons else None
        return split_text(item.message.text, self.limits.max_length, last_limit=shorter)

    async def _retry(self, item: OutboxItem, exc: RetryLater) -> None:
        # A platform's "wait" (429 with retry_after) is not a failure: a long flood wait must not use
        # up the attempts meant for outages, or a message would be given up after seconds of 429s.
        flood_wait = exc.retry_after is not None
        if item.attempts >= MAX_ATTEMPTS and not flood_wait:
            log.error(
                "outbox row %s to %s given up after %s attempts: %s",
                item.id,
                self._who(item),
                item.attempts,
                exc,
            )
            await self.deliveries.fail_outbox(item, str(exc))
            return
        if exc.retry_after is not None:
            delay = exc.retry_after
            self.limiter.pause(delay)
        else:
            delay = min(MAX_BACKOFF, 0.5 * 2 ** (item.attempts - 1)) * random.uniform(0.8, 1.2)
        log.info("outbox row %s: retry in %.1f s (%s)", item.id, delay, exc)
        try:
            await self.deliveries.retry_outbox(
                item, str(exc), self.clock() + dt.timedelta(seconds=delay), counted=not flood_wait
            )
        except Exception:  # the lease runs out and the row is taken up again
            log.exception("rescheduling outbox row %s failed", item.id)


async def persist(write: Callable[[], Awaitable[None]], patience: float = 60.0) -> None:
    """Record that something went out, waiting out a short database outage.

    Giving up here would mean sending the message again later, so it is worth waiting for.
    """
    delay, waited = 0.1, 0.0
    while True:
        try:
            await write()
            return
        except Exception:
            if waited >= patience:
                raise
            log.warning("database write after delivery failed; retrying in %.1f s", delay)
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 5.0)
