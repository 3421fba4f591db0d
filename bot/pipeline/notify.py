"""The bell across processes: PostgreSQL LISTEN/NOTIFY between the workers of one installation.

With `lotse serve --workers N` a web chat request waiting in one worker for its answer, or the inbox
worker of another process, would otherwise hear of news only at its next poll (up to a second). The
bridge passes every ring on as a notification on one channel and rings the labels it hears from the
other processes on the local bell. The database stays the source of truth: a notification lost
while the connection is down only costs the time to the next poll, and after a reconnect every
local listener looks again.

What crosses the wire is a label, never a chat id: Telegram and WhatsApp ids are personal data, and
notifications may be seen by anyone who can LISTEN on the database. A chat's label is a short HMAC
under a key derived from the installation's secret, the same in every worker; each process maps it
back to the chats it is waiting for (`Bell.ring_label`), and an unknown label is ignored.

One dedicated connection per process both listens and sends; rings are collected while a send is
under way and go out together in one statement, after the commit that made them true (the bell is
rung only after commits). A process hears its own notifications too and drops them by backend pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import Hashable, Iterable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from bot.pipeline.bell import Bell

log = logging.getLogger(__name__)

CHANNEL = "lotse_bell"
EVERYTHING = "*"  # heard after a (re)connect: whatever was missed, every listener looks again
MAX_PAYLOAD = 7900  # PostgreSQL refuses payloads of 8000 bytes and more
LABEL_HEX = 16  # 64 bits: a collision only wakes a waiter who finds nothing new and waits again
_SEND = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload"


def asyncpg_dsn(url: str) -> str:
    """The plain libpq URL asyncpg connects with, from the SQLAlchemy URL Lotse stores."""
    return str(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))


def payloads(labels: Iterable[str]) -> list[str]:
    """Labels joined by spaces into as few notifications as PostgreSQL's size limit allows."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for label in sorted(labels):
        if current and size + len(label) + 1 > MAX_PAYLOAD:
            out.append(" ".join(current))
            current, size = [], 0
        current.append(label)
        size += len(label) + 1
    if current:
        out.append(" ".join(current))
    return out


class NotifyBridge:
    """Relays one process's bell to the other processes on the same PostgreSQL database."""

    def __init__(self, bell: Bell, url: str, key: bytes, keepalive: float = 10.0) -> None:
        self.bell = bell
        self.dsn = asyncpg_dsn(url)
        self.key = key
        self.keepalive = keepalive  # an idle connection is checked this often, to notice it is gone
        self.connected = asyncio.Event()
        self.heard = 0  # labels heard from other processes, for the health check and tests
        self.sent = 0  # notifications sent (each carries the labels rung since the last one)
        self._pending: set[str] = set()
        self._wanted = asyncio.Event()
        self._own_pid: int | None = None
        self._task: asyncio.Task[None] | None = None

    def label(self, key: Hashable) -> str | None:
        if key == "inbox":
            return "i"
        if isinstance(key, tuple) and len(key) == 2 and key[0] == "outbox":
            return f"o:{key[1]}"  # channel names ("web", "telegram") are nobody's data
        if isinstance(key, tuple) and len(key) == 3 and key[0] == "chat":
            digest = hmac.new(self.key, f"{key[1]}:{key[2]}".encode(), hashlib.sha256).hexdigest()
            return f"c:{digest[:LABEL_HEX]}"
        return None

    def send(self, label: str) -> None:
        if not self.connected.is_set():
            return  # the others poll meanwhile, and hear EVERYTHING once the connection is back
        self._pending.add(label)
        self._wanted.set()

    def start(self) -> None:
        self.bell.relay_to(self)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self.bell.relay_to(None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                connection = await asyncpg.connect(self.dsn, timeout=10)
            except Exception as exc:  # the database is away: the bell still works within the process
                log.warning("bell bridge cannot connect (%s); retrying in %.0f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            delay = 0.5
            try:
                await self._serve(connection)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("bell bridge lost its connection (%s); reconnecting", type(exc).__name__)
            finally:
                self.connected.clear()
                self._pending.clear()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), 5)
                self.bell.ring_all()  # news from elsewhere may have been missed

    async def _serve(self, connection: Any) -> None:
        lost = asyncio.Event()

        def on_lost(_connection: Any) -> None:
            lost.set()
            self._wanted.set()

        connection.add_termination_listener(on_lost)
        self._own_pid = connection.get_server_pid()
        await connection.add_listener(CHANNEL, self._heard)
        self.connected.set()
        log.info("bell bridge listening on %s", CHANNEL)
        self.send(EVERYTHING)  # the others may have missed this process's rings while it was away
        while True:
            try:
                await asyncio.wait_for(self._wanted.wait(), self.keepalive)
            except asyncio.TimeoutError:
                await connection.execute("SELECT 1", timeout=self.keepalive)
                continue
            self._wanted.clear()
            if lost.is_set() or connection.is_closed():
                raise ConnectionError("the bell bridge's connection closed")
            labels, self._pending = self._pending, set()
            if labels:
                batch = payloads(labels)
                await connection.execute(_SEND, CHANNEL, batch, timeout=self.keepalive)
                self.sent += len(batch)

    def _heard(self, _connection: Any, pid: int, _channel: str, payload: str) -> None:
        if pid == self._own_pid:
            return  # this process rang its own listeners already
        for label in payload.split():
            self.heard += 1
            if label == EVERYTHING:
                self.bell.ring_all()
            else:
                self.bell.ring_label(label)
