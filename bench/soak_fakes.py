"""The soak test's view of what users received: one mailbox fed by the fake Bot API and Graph API.

The fakes run in threads of their own; the simulated users live on the benchmark's event loop. A
user waiting for an answer must be woken once, when the answer arrives, rather than poll 500 chats:
so each fake hands every accepted message to the mailbox, which resolves the one waiter of that chat
when its condition holds. Chats are keyed "tg:<chat id>" and "wa:<wa_id>", so one soak run can
account for both channels in the same way.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tests.fakes.telegram import FakeBotApi, JsonDict
from tests.fakes.whatsapp import FakeGraphApi, Sent


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


class MailingBotApi(FakeBotApi):
    """The fake Bot API, handing every accepted sendMessage to the mailbox."""

    def __init__(self, mailbox: Mailbox, token: str) -> None:
        self.mailbox = mailbox
        super().__init__(token=token)

    def _record(self, method: str, params: JsonDict, status: int, body: JsonDict) -> tuple[int, JsonDict]:
        result = super()._record(method, params, status, body)
        if method == "sendMessage" and status == 200:
            markup = params.get("reply_markup")
            rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
            payloads = tuple(str(b.get("callback_data", "")) for row in rows for b in row)
            arrival = Arrival(time.monotonic(), str(params.get("text", "")), payloads)
            self.mailbox.deliver(f"tg:{params['chat_id']}", arrival)
        return result


class MailingGraphApi(FakeGraphApi):
    """The fake Graph API, handing every message that reaches the user (inside the window) to the mailbox."""

    def __init__(self, mailbox: Mailbox, app_secret: str) -> None:
        self.mailbox = mailbox
        super().__init__(app_secret=app_secret)

    def _answer(self, kind: str, body: JsonDict) -> tuple[JsonDict, Sent | None]:
        result, sent = super()._answer(kind, body)
        if sent is not None and sent.in_window:
            text, payloads = _readable(sent.body)
            self.mailbox.deliver(f"wa:{sent.to}", Arrival(time.monotonic(), text, payloads))
        return result, sent


def _readable(body: JsonDict) -> tuple[str, tuple[str, ...]]:
    """The text a WhatsApp user reads and the ids of the buttons or list rows offered."""
    kind = body.get("type", "text")
    if kind == "text":
        return str(body.get("text", {}).get("body", "")), ()
    if kind == "interactive":
        interactive: dict[str, Any] = body.get("interactive", {})
        action = interactive.get("action", {})
        ids = [str(b.get("reply", {}).get("id", "")) for b in action.get("buttons", [])]
        ids += [str(r.get("id", "")) for s in action.get("sections", []) for r in s.get("rows", [])]
        return str(interactive.get("body", {}).get("text", "")), tuple(ids)
    if kind == "template":
        texts = [
            str(p.get("text", ""))
            for c in body.get("template", {}).get("components", []) or []
            for p in c.get("parameters", []) or []
            if isinstance(p, dict)
        ]
        return " ".join(texts), ()
    return "", ()
