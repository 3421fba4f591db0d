"""Sending rate limits: an even pace for the whole channel and a minimum interval per chat.

Telegram asks bots to stay under about 30 messages a second overall and one a second per chat,
and answers 429 with `retry_after` beyond that; a 429 pauses the whole channel, as flood control
may be bot-wide. The limits live in memory: after a restart they start afresh, which at worst
costs one 429 that is then honoured.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        per_second: float,
        per_chat_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second = per_second
        self.per_chat_interval = per_chat_interval
        self.clock = clock
        self._tokens = 1.0
        self._refilled = clock()
        self._paused_until = 0.0
        self._chat_next: dict[str, float] = {}
        self._lock = asyncio.Lock()

    def chat_ready(self, chat_id: str) -> bool:
        return self._chat_next.get(chat_id, 0.0) <= self.clock()

    def next_ready_in(self) -> float | None:
        """Seconds until the first held-back chat may receive again, or None if none is held."""
        now = self.clock()
        self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}
        waits = [t - now for t in self._chat_next.values()]
        if self._paused_until > now:
            waits.append(self._paused_until - now)
        return min(waits) if waits else None

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    async def acquire(self, chat_id: str) -> None:
        """Wait until both the channel and this chat may receive one more message."""
        async with self._lock:
            while True:
                now = self.clock()
                if self._paused_until > now:
                    await asyncio.sleep(self._paused_until - now)
                    continue
                # A bucket of one: messages are spaced evenly, never a burst above the rate.
                self._tokens = min(1.0, self._tokens + (now - self._refilled) * self.per_second)
                self._refilled = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    break
                await asyncio.sleep((1.0 - self._tokens) / self.per_second)
        if self.per_chat_interval <= 0:
            return
        wait_for = self._chat_next.get(chat_id, 0.0) - self.clock()
        if wait_for > 0:
            await asyncio.sleep(wait_for)
        self._chat_next[chat_id] = self.clock() + self.per_chat_interval
