"""In-process wake-up calls between the parts of the pipeline.

The database is the source of truth; a bell only saves waiting for the next poll. Every waiter
also polls, so rows written by another process (or before a restart) are found anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterator
from contextlib import contextmanager


class Bell:
    def __init__(self) -> None:
        self._listeners: dict[Hashable, set[asyncio.Event]] = {}

    def ring(self, key: Hashable) -> None:
        for event in self._listeners.get(key, ()):
            event.set()

    @contextmanager
    def listen(self, key: Hashable) -> Iterator[asyncio.Event]:
        """Register before looking at the database, so that a ring in between is not missed."""
        event = asyncio.Event()
        self._listeners.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            listeners = self._listeners.get(key)
            if listeners is not None:
                listeners.discard(event)
                if not listeners:
                    del self._listeners[key]


def ring_for_chat(bell: Bell, channel: str, chat_id: str) -> None:
    """New outbox rows for a chat: wake the channel's sender and whoever long-polls that chat."""
    bell.ring(("outbox", channel))
    bell.ring(("chat", channel, chat_id))


async def wait(event: asyncio.Event, timeout: float) -> bool:
    """Wait for `event` at most `timeout` seconds; True if it was set."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except asyncio.TimeoutError:
        return False
    return True
