"""PostgreSQL faults: the server restarted mid-burst, and two workers sharing one inbox.

Both tests run real `lotse serve` processes against the fake Bot API and post a burst of webhook
updates from many users. What each chat finally received must equal, message for message, what
the same conversation produces when nothing goes wrong (see `tests/test_crash_recovery.py`, whose
conversations and reference these tests share); the count of lost and duplicated messages is
printed and must be zero.

The restart test owns a private PostgreSQL server (`tests/pg_cluster.py`), because the machine's
shared one serves other tests at the same time; it is skipped where no server programs are
installed. The two-worker test uses a database of its own on the shared server (skipped where that
is not reachable); both workers start at the same moment, migrating the fresh database together.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine.messages import Inbound
from bot.engine.understanding import Understanding
from bot.storage.deliveries import Deliveries
from bot.storage.tables import inbox
from tests.conftest import fresh_postgres_database
from tests.fakes.telegram import FakeBotApi
from tests.fakes.telegram_updates import Updates
from tests.harness import WEBHOOK_SECRET, ServeProcess, free_port
from tests.pg_cluster import PgCluster, private_cluster, unavailable
from tests.reference import expected_replies, script

USERS = 30
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
PATIENCE = 150.0  # seconds a burst may take on a loaded machine before the test gives up
Scripts = dict[int, list[dict[str, Any]]]


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    with FakeBotApi() as api:
        yield api


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(f"no private PostgreSQL server: {reason}")
    with private_cluster() as running:
        yield running


@pytest.fixture
def shared_server_database() -> Iterator[str]:
    """A database of its own on the shared server, so that its inbox holds only this test's rows."""
    with fresh_postgres_database("lotse_workers") as url:
        yield url


def conversations(users: int) -> Scripts:
    """Fresh users and update ids for every run, so runs on a shared database never collide."""
    updates = Updates(start_update_id=int(time.time() * 1000) % 10**9)
    languages = ("uk", "ar", "tr")
    base = 8 * 10**9 + int(time.time() * 1000) % 10**8 * 10
    return {base + i * 7: script(updates, base + i * 7, languages[i % 3]) for i in range(users)}


def serve_env(fake: FakeBotApi, database_url: str, port: int, var_dir: Path, **more: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOTSE_VAR_DIR": str(var_dir),
        "TELEGRAM_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TELEGRAM_CHAT_INTERVAL": "0",
        "LOTSE_RELOAD_INTERVAL": "0",
        **more,
    }


class Telegram:
    """Posts each chat's updates in order, delivering an update again until it is acknowledged.

    That is what Telegram does: an update answered with anything but 200 (or not answered) is
    delivered again later, and the chat's next update waits for it.
    """

    def __init__(self, scripts: Scripts, urls: list[str], pause: float = 0.0) -> None:
        self.scripts, self.urls, self.pause = scripts, urls, pause
        self.acknowledged = dict.fromkeys(scripts, 0)  # per user: updates acknowledged so far
        self.refused = 0  # deliveries answered with an error or not at all
        self.total = sum(len(s) for s in scripts.values())

    def done(self) -> int:
        return sum(self.acknowledged.values())

    async def burst(self) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            await asyncio.wait_for(
                asyncio.gather(*(self._post_user(client, i, u) for i, u in enumerate(self.scripts))),
                PATIENCE,
            )

    async def _post_user(self, client: httpx.AsyncClient, index: int, user: int) -> None:
        updates = self.scripts[user]
        while self.acknowledged[user] < len(updates):
            position = self.acknowledged[user]
            url = self.urls[(index + position) % len(self.urls)]  # alternate between servers per update
            if await self._deliver(client, url, updates[position]):
                self.acknowledged[user] += 1
                await asyncio.sleep(self.pause)  # a person types between two messages
            else:
                self.refused += 1
                await asyncio.sleep(0.5)

    @staticmethod
    async def _deliver(client: httpx.AsyncClient, url: str, data: dict[str, Any]) -> bool:
        try:
            return (await client.post(url, json=data, headers=HEADERS)).status_code == 200
        except httpx.HTTPError:
            return False

    async def redeliver(self, every: int) -> None:
        """Deliver acknowledged updates once more (Telegram may): they must change nothing."""
        async with httpx.AsyncClient(timeout=10) as client:
            for index, updates in enumerate(self.scripts.values()):
                for data in updates[index % every :: every]:
                    assert await self._deliver(client, self.urls[index % len(self.urls)], data)


async def settled(servers: list[ServeProcess], fake: FakeBotApi, expected: dict[int, list[str]]) -> None:
    """Wait until every chat has at least its expected replies and nothing is left to do or send.

    With the inbox and outbox empty (as `/healthz` counts them) no further message can go out, so
    what the fake received then is final: a duplicate would already be there.
    """

    async def nothing_pending() -> bool:
        async with httpx.AsyncClient(timeout=5) as client:
            for server in servers:
                try:
                    health = (await client.get(f"{server.base_url}/healthz")).json()
                except (httpx.HTTPError, ValueError):
                    return False
                if health.get("pending") != {"inbox": 0, "outbox": 0}:
                    return False
        return True

    def complete(api: FakeBotApi) -> bool:
        return all(len(api.texts(u)) >= len(texts) for u, texts in expected.items())

    await fake.await_for(complete, timeout=PATIENCE)
    await until(nothing_pending, PATIENCE)


async def until(condition: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            return  # the comparison that follows reports what is missing
        await asyncio.sleep(0.2)


def lost_and_duplicated(
    label: str, expected: dict[int, list[str]], received: dict[int, list[str]]
) -> tuple[int, int]:
    lost = sum(max(0, len(expected[u]) - len(received[u])) for u in expected)
    duplicated = sum(max(0, len(received[u]) - len(expected[u])) for u in expected)
    total = sum(len(t) for t in expected.values())
    print(f"\n{label}: {total} replies expected, lost {lost}, duplicated {duplicated}")
    for u in expected:
        if received[u] != expected[u]:
            print(u, [t[:40] for t in expected[u]], [t[:40] for t in received[u]], sep="\n  ")
    return lost, duplicated


async def test_postgres_restarted_mid_burst_every_message_is_answered_once(
    fake: FakeBotApi, cluster: PgCluster, understanding: Understanding, tmp_path: Path
) -> None:
    scripts = conversations(USERS)
    database_url = cluster.create_database("lotse")
    port = free_port()
    env = serve_env(fake, database_url, port, tmp_path, LOTSE_LEASE_SECONDS="5")
    server = ServeProcess(env, port, tmp_path / "server.log")
    telegram = Telegram(scripts, [f"{server.base_url}/telegram/webhook"], pause=0.3)
    restarts: list[str] = []
    try:
        server.launch()  # loads its model while the reference is computed here
        expected = await expected_replies(scripts, understanding, tmp_path)
        await asyncio.to_thread(server.wait_ready)
        sending = asyncio.create_task(telegram.burst())
        # A clean shutdown (connections closed by the server) and a crash (recovered from the WAL),
        # each while updates are being posted and answered.
        for mode, share in (("fast", 0.25), ("immediate", 0.6)):
            while telegram.done() < telegram.total * share and not sending.done():
                await asyncio.sleep(0.01)
            refused = telegram.refused
            await asyncio.to_thread(cluster.stop, mode)
            while telegram.refused == refused and not sending.done():  # a webhook noticed the outage
                await asyncio.sleep(0.05)
            await asyncio.sleep(2)  # the outage lasts a little longer
            await asyncio.to_thread(cluster.start)
            restarts.append(f"{mode} at {telegram.done()}/{telegram.total} acknowledged")
        await sending
        await telegram.redeliver(every=4)
        await settled([server], fake, expected)
        received = {u: fake.texts(u) for u in scripts}
    finally:
        server.stop()

    print("\nrestarts:", "; ".join(restarts), f"; {telegram.refused} deliveries refused during outages")
    assert telegram.refused > 0  # the outages really hit webhook deliveries in the middle of the burst
    assert all(n == len(scripts[u]) for u, n in telegram.acknowledged.items())
    lost, duplicated = lost_and_duplicated("PostgreSQL restarted mid-burst", expected, received)
    assert (lost, duplicated) == (0, 0)
    assert received == expected  # every reply, once, in the order of the conversation


ANSWERED = re.compile(r"inbox row (\d+) answered")


async def test_two_workers_share_one_inbox_without_duplicates_or_reordering(
    fake: FakeBotApi, shared_server_database: str, understanding: Understanding, tmp_path: Path
) -> None:
    scripts = conversations(USERS)
    servers: list[ServeProcess] = []
    for name in ("a", "b"):
        port = free_port()
        (tmp_path / name).mkdir()
        # At INFO each worker logs the inbox rows it answered (ids only), to its own log.
        env = serve_env(
            fake, shared_server_database, port, tmp_path / name, LOTSE_DEBUG="1", LOTSE_LOG_LEVEL="info"
        )
        servers.append(ServeProcess(env, port, tmp_path / f"server-{name}.log"))
    # Updates of one chat go alternately to either server, so both inboxes' rows of a chat interleave.
    telegram = Telegram(scripts, [f"{s.base_url}/telegram/webhook" for s in servers])
    try:
        for server in servers:  # both at once: they also migrate the fresh database at the same time
            server.launch()
        expected = await expected_replies(scripts, understanding, tmp_path)
        for server in servers:
            await asyncio.to_thread(server.wait_ready)
        await telegram.burst()
        await telegram.redeliver(every=5)
        await settled(servers, fake, expected)
        received = {u: fake.texts(u) for u in scripts}
    finally:
        for server in servers:
            server.stop()

    answered = [[int(i) for i in ANSWERED.findall(s.log_path.read_text(errors="replace"))] for s in servers]
    print(f"\nrows answered: worker a {len(answered[0])}, worker b {len(answered[1])}")
    assert all(answered), "both workers must have answered rows, or the test did not run concurrently"
    twice = set(answered[0]) & set(answered[1])
    assert not twice, f"inbox rows answered by both workers: {sorted(twice)}"
    lost, duplicated = lost_and_duplicated("two workers on one inbox", expected, received)
    assert (lost, duplicated) == (0, 0)
    assert received == expected  # per-chat order kept across the two workers


async def test_a_turn_committed_despite_a_broken_connection_is_not_put_back(database: AsyncEngine) -> None:
    """The worker retries a turn whose COMMIT raised; if the commit went through, nothing changes.

    A connection lost during COMMIT (a database restart) leaves the worker unsure: the turn may be
    done, its replies queued. Putting the row back would answer the message twice.
    """
    deliveries = Deliveries(database, lease=30)
    now = dt.datetime.now(dt.timezone.utc)
    user = f"u-{uuid.uuid4().hex[:10]}"
    accepted = await deliveries.accept(Inbound("telegram", user, text="Hallo"), f"x-{user}", now)
    (item,) = [i for i in await deliveries.claim_inbox(50, now) if i.id == accepted.inbox_id]
    async with database.begin() as conn:  # the turn's transaction, committed after all
        await conn.execute(sa.update(inbox).where(inbox.c.id == item.id).values(status="done", done_at=now))

    await deliveries.retry_inbox(item, "ConnectionDoesNotExistError", now)

    assert await deliveries.inbox_done(item.id)
    assert [i.id for i in await deliveries.claim_inbox(50, now + dt.timedelta(minutes=5))].count(item.id) == 0
