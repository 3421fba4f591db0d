"""Messages delivered by a fake platform, per chat, with a waiter woken once when its condition holds.

The fakes run in threads of their own; simulated users live on the benchmark's event loop. A user
waiting for an answer is woken once, when the answer arrives, instead of polling hundreds of chats:
the fake hands every accepted message to the mailbox, which resolves that chat's one waiter when
its condition holds. Used by the soak test (both channels) and the WhatsApp webhook benchmark.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Arrival:
    """One message as the user's phone shows it: when, what it says, which buttons it offers."""

    at: float  # time.monotonic() when the fake accepted it
    text: str
    payloads: tuple[str, ...]


Condition = Callable[[Sequence[Arrival]], bool]


class Mailbox:
    """Every message delivered to a simulated user, per chat, with at most one waiter per chat."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chats: dict[str, list[Arrival]] = {}
        self._waiting: dict[str, tuple[Condition, asyncio.Future[None]]] = {}

    def deliver(self, chat: str, arrival: Arrival) -> None:
        """Called in a fake's thread for each message it accepted."""
        with self._lock:
            arrived = self._chats.setdefault(chat, [])
            arrived.append(arrival)
            waiting = self._waiting.get(chat)
            if waiting is None or not waiting[0](arrived):
                return
            del self._waiting[chat]
        future = waiting[1]
        future.get_loop().call_soon_threadsafe(_resolve, future)

    def count(self, chat: str) -> int:
        with self._lock:
            return len(self._chats.get(chat, ()))

    def arrivals(self, chat: str) -> list[Arrival]:
        with self._lock:
            return list(self._chats.get(chat, ()))

    def chats(self) -> dict[str, int]:
        """Messages received per chat."""
        with self._lock:
            return {chat: len(items) for chat, items in self._chats.items()}

    def total(self) -> int:
        with self._lock:
            return sum(len(items) for items in self._chats.values())

    async def until(self, chat: str, condition: Condition, timeout: float) -> bool:
        """Wait until `condition(arrivals of chat)` holds; False when `timeout` seconds passed first."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if condition(self._chats.get(chat, [])):
                return True
            self._waiting[chat] = (condition, future)
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            with self._lock:
                if chat in self._waiting and self._waiting[chat][1] is future:
                    del self._waiting[chat]


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def more_than(count: int) -> Condition:
    """Any message after the first `count`."""
    return lambda arrived: len(arrived) > count


def offering(payload: str, after: int) -> Condition:
    """A message after the first `after` that carries a button with `payload`."""
    return lambda arrived: any(payload in a.payloads for a in arrived[after:])
