"""The running pipeline: channels accept into the inbox, a worker answers, senders deliver."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import replace
from typing import Any, TypeVar

from bot.engine.engine import Engine, utcnow
from bot.engine.messages import Inbound
from bot.pipeline.bell import Bell, ring_for_chat, wait
from bot.pipeline.channel import Channel
from bot.pipeline.sender import OutboxSender
from bot.pipeline.worker import InboxWorker
from bot.storage.deliveries import Accepted, Deliveries, OutboxItem
from bot.storage.retention import Retention

log = logging.getLogger(__name__)
T = TypeVar("T")


class Pipeline:
    def __init__(
        self,
        deliveries: Deliveries,
        engine: Engine,
        channels: Iterable[Channel],
        clock: Callable[[], dt.datetime] = utcnow,
        concurrency: int = 8,
        typing_after: float = 0.3,
        retention: Retention | None = None,
        retention_interval: float = 3600.0,
    ) -> None:
        self.deliveries = deliveries
        self.engine = engine
        self.channels = {c.name: c for c in channels}
        self.clock = clock
        self.bell = Bell()
        self.worker = InboxWorker(
            deliveries, engine, self.channels, self.bell, clock, concurrency, typing_after=typing_after
        )
        self.senders = [
            OutboxSender(deliveries, channel, channel.limits, self.bell, clock)
            for channel in self.channels.values()
            if channel.limits is not None
        ]
        self.retention = retention if retention_interval > 0 else None
        self.retention_interval = retention_interval
        self._tasks: list[asyncio.Task[None]] = []
        # A waiting request's message found its chat busy and went to the inbox: the worker cannot
        # claim it before the turn ahead of it ends, so the next turn answered in a request rings.
        self._queued_behind = False

    async def accept(
        self,
        inbound: Inbound,
        external_id: str,
        meta: dict[str, Any] | None = None,
        answer_now: bool = False,
    ) -> Accepted:
        """Store an inbound message durably; the caller acknowledges the platform only after this.

        With `answer_now` (the web chat waiting for its answer in the same request) the message is
        answered here, in the caller's task, when its chat has nothing else open: the worker would
        do the same after a claim of its own, a wake-up and a look at the inbox. The row is leased
        like any claimed row, so if this process dies mid-turn, the worker of the next takes it up.
        Platforms that only wait for a 200 (Telegram, WhatsApp) keep the worker.
        """
        accepted = await self.deliveries.accept(inbound, external_id, self.clock(), meta, claim=answer_now)
        if accepted.claimed is not None:
            answered = await self.worker.answer(accepted.claimed)
            if self._queued_behind:  # a message waited for this turn: the worker may claim it now
                self._queued_behind = False
                self.bell.ring("inbox")
            return replace(accepted, answered=answered)
        if not accepted.duplicate:
            self._queued_behind = self._queued_behind or answer_now
            self.bell.ring("inbox")
        return accepted

    def notify(self, channel: str, chat_id: str) -> None:
        """Something was queued for this chat outside a turn (a caseworker wrote): deliver it now."""
        ring_for_chat(self.bell, channel, chat_id)

    def start(self, *extra: Coroutine[Any, Any, None]) -> None:
        """Run the worker, one sender per push channel, the retention job, and `extra` loops (e.g. long polling)."""
        loops = [self.worker.run(), *(sender.run() for sender in self.senders), *extra]
        if self.retention is not None:
            loops.append(self.retention.run_periodically(self.retention_interval))
        self._tasks = [asyncio.create_task(_guarded(loop)) for loop in loops]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.worker.drain()
        for sender in self.senders:
            await sender.drain()

    async def wait_processed(self, channel: str, chat_id: str, inbox_id: int, timeout: float) -> bool:
        """Wait until an accepted message has been answered (web chat's synchronous mode)."""
        return await self._watch(channel, chat_id, lambda: self.deliveries.inbox_done(inbox_id), timeout)

    async def messages_for(self, channel: str, chat_id: str, after: int, timeout: float) -> list[OutboxItem]:
        """Long poll for a pull channel: messages after `after`, waiting up to `timeout` for one."""
        return await self._watch(
            channel, chat_id, lambda: self.deliveries.fetch(channel, chat_id, after, self.clock()), timeout
        )

    async def _watch(self, channel: str, chat_id: str, look: Callable[[], Awaitable[T]], timeout: float) -> T:
        """Look until the answer is truthy or time is up; a turn in this chat rings to look again."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            with self.bell.listen(("chat", channel, chat_id)) as rung:
                found = await look()
                left = deadline - loop.time()
                if found or left <= 0:
                    return found
                await wait(rung, min(left, 1.0))


async def _guarded(loop: Coroutine[Any, Any, None]) -> None:
    try:
        await loop
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("a pipeline loop stopped")
        raise
