"""The loop the inbox worker and the outbox senders share: claim rows, work on each in a task.

At most `concurrency` rows are in progress; the rows in progress are passed to the claim as busy,
so that a lease running out under a slow turn does not make this process claim its own row again.
The bell wakes the loop when there is news; otherwise it looks again after `poll_interval`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable, Sequence
from typing import Generic, Protocol, TypeVar

from bot.pipeline.bell import Bell, wait

log = logging.getLogger(__name__)


class Row(Protocol):
    @property
    def id(self) -> int: ...


RowT = TypeVar("RowT", bound=Row)


class ClaimLoop(Generic[RowT]):
    def __init__(self, bell: Bell, key: Hashable, concurrency: int, poll_interval: float) -> None:
        self.bell = bell
        self.key = key
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self._tasks: dict[asyncio.Task[None], int] = {}  # work in progress -> its row

    async def claim(self, limit: int, busy: Sequence[int]) -> list[RowT]:
        raise NotImplementedError

    async def work(self, row: RowT) -> None:
        raise NotImplementedError

    def idle_timeout(self) -> float:
        """How long to sleep when there is nothing to claim (a sender wakes for held-back chats)."""
        return self.poll_interval

    async def run(self) -> None:
        while True:
            with self.bell.listen(self.key) as rung:
                free = self.concurrency - len(self._tasks)
                rows: list[RowT] = []
                if free > 0:
                    try:
                        rows = await self.claim(free, list(self._tasks.values()))
                    except Exception:  # the database is away: keep trying, lose nothing
                        log.exception("claiming rows for %s failed", self.key)
                        await asyncio.sleep(self.poll_interval)
                        continue
                for row in rows:
                    task = asyncio.create_task(self.work(row))
                    self._tasks[task] = row.id
                    task.add_done_callback(self._done)
                # Fewer rows than free slots: nothing else is claimable now, so wait for news rather
                # than ask again (a second claim per message cost as much as the claim itself).
                if len(rows) < free or len(self._tasks) >= self.concurrency:
                    await wait(rung, self.idle_timeout())

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self.bell.ring(self.key)  # a slot is free, and the chat's next row may now be claimable

    async def drain(self) -> None:
        """Let the work in progress finish (used on shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10)
