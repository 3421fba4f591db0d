"""Wake-up calls between the parts of the pipeline, within a process and (optionally) beyond it.

The database is the source of truth; a bell only saves waiting for the next poll. Every waiter
also polls, so rows written by another process (or before a restart) are found anyway.

With several workers on one PostgreSQL database a `Relay` (see `bot.pipeline.notify`) carries rings
to the other processes: a web chat request waiting in one worker then hears at once that another
worker answered its message. Keys cross the process boundary only as labels (`Relay.label`), so
that a chat id never leaves the process in clear; each process maps a label it hears back to the
keys it is listening for. Without a relay (SQLite, one worker) ringing costs what it always did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Protocol


class Relay(Protocol):
    """Carries rings to other processes."""

    def label(self, key: Hashable) -> str | None:
        """The key's name outside this process, or None for keys that concern this process only."""
        ...

    def send(self, label: str) -> None:
        """Pass the label on to the other processes (without waiting; it may be dropped)."""
        ...


class Bell:
    def __init__(self) -> None:
        self._listeners: dict[Hashable, set[asyncio.Event]] = {}
        self._relay: Relay | None = None
        self._labelled: dict[str, Hashable] = {}  # labels of the keys listened to, while relayed

    def ring(self, key: Hashable) -> None:
        self._wake(key)
        if self._relay is not None:
            label = self._relay.label(key)
            if label is not None:
                self._relay.send(label)

    def ring_label(self, label: str) -> None:
        """Another process rang a key by its label: wake whoever here listens for that key."""
        key = self._labelled.get(label)
        if key is not None:
            self._wake(key)

    def ring_all(self) -> None:
        """Wake every listener: after rings from elsewhere may have been missed, all look again."""
        for events in self._listeners.values():
            for event in events:
                event.set()

    def relay_to(self, relay: Relay | None) -> None:
        """Carry rings to other processes from now on (None: this process only again)."""
        self._relay = relay
        self._labelled = {}
        for key in self._listeners:
            self._label(key)

    @contextmanager
    def listen(self, key: Hashable) -> Iterator[asyncio.Event]:
        """Register before looking at the database, so that a ring in between is not missed."""
        event = asyncio.Event()
        listeners = self._listeners.get(key)
        if listeners is None:
            listeners = self._listeners[key] = set()
            if self._relay is not None:
                self._label(key)
        listeners.add(event)
        try:
            yield event
        finally:
            listeners = self._listeners.get(key)
            if listeners is not None:
                listeners.discard(event)
                if not listeners:
                    del self._listeners[key]
                    if self._relay is not None:
                        self._unlabel(key)

    def _wake(self, key: Hashable) -> None:
        for event in self._listeners.get(key, ()):
            event.set()

    def _label(self, key: Hashable) -> None:
        assert self._relay is not None
        label = self._relay.label(key)
        if label is not None:
            self._labelled[label] = key

    def _unlabel(self, key: Hashable) -> None:
        assert self._relay is not None
        label = self._relay.label(key)
        if label is not None and self._labelled.get(label) == key:
            del self._labelled[label]


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
