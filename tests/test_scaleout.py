"""`lotse serve --workers N`: several processes behind one address, on one PostgreSQL database.

What an operator relies on: both workers answer, no message is lost or answered twice, SIGTERM to
the one process they started stops everything, a worker that dies takes the others down with a
non-zero status (so the service manager restarts the installation), and SQLite is refused with a
message that says what to do. The LISTEN/NOTIFY bridge is tested on its own: a ring in one process
wakes a waiter in another, and no chat id crosses the wire in clear.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import sqlalchemy as sa

from bot.pipeline.bell import Bell
from bot.pipeline.notify import CHANNEL, NotifyBridge, asyncpg_dsn
from bot.storage.database import create_engine
from bot.storage.tables import conversations, inbox, messages, users
from tests.conftest import ROOT, fresh_postgres_database
from tests.harness import ServeProcess, free_port

CHATS = 20
TEXTS = (  # one chat's messages; different from each other, so that a turn recorded twice shows
    "Hallo",
    "Wo finde ich einen Kitaplatz?",
    "Welche Sportangebote gibt es für Kinder?",
    "Wann hat die Beratung geöffnet?",
    "Danke!",
)
ANSWERED = re.compile(r" (w\d+) bot\.pipeline\.worker: inbox row (\d+) answered for ")
PATIENCE = 120.0  # seconds: generous, for a loaded machine; nothing here measures time


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_postgres_database("lotse_scale") as url:
        yield url


def serve_env(var_dir: Path, database_url: str | None, **more: str) -> dict[str, str]:
    """This environment without platform tokens or Lotse settings, plus the test's."""
    mine = ("TELEGRAM_", "WHATSAPP_", "DATABASE_URL", "LOTSE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(mine)}
    env.update(LOTSE_VAR_DIR=str(var_dir), LOTSE_RELOAD_INTERVAL="0", LOTSE_RETRAIN="false", **more)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


def workers_of(server: ServeProcess) -> list[psutil.Process]:
    assert server.process is not None
    return psutil.Process(server.process.pid).children()


def wait_for_every_worker(server: ServeProcess, workers: int) -> None:
    """Ask /healthz on fresh connections until each worker has answered once: all of them serve."""
    seen: set[int] = set()
    for _ in range(2000):
        with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=10) as response:
            seen.add(int(json.loads(response.read())["worker"]))
        if len(seen) == workers:
            return
    raise AssertionError(f"only workers {sorted(seen)} answered on {server.base_url}")


@pytest.fixture
def two_workers(tmp_path: Path, pg_url: str) -> Iterator[ServeProcess]:
    env = serve_env(tmp_path, pg_url, LOTSE_WORKERS="2", LOTSE_LOG_LEVEL="info")
    server = ServeProcess(env, free_port(), tmp_path / "serve.log")
    server.start()
    try:
        wait_for_every_worker(server, 2)
        yield server
    finally:
        server.stop()


async def chat(client: httpx.AsyncClient, base_url: str) -> list[int]:
    """One person writing TEXTS in turn, each after the answer to the last; answers per message."""
    session = (await client.post(f"{base_url}/webchat/api/session")).json()["session"]
    after, answers = 0, []
    for text in TEXTS:
        response = await client.post(
            f"{base_url}/webchat/api/messages",
            params={"wait": "60"},
            headers={"x-lotse-session": session},
            json={"id": uuid.uuid4().hex, "text": text, "after": after},
        )
        response.raise_for_status()
        new = response.json()["messages"]
        answers.append(len(new))
        if new:
            after = max(int(m["id"]) for m in new)
    return answers


async def test_two_workers_answer_every_message_once(two_workers: ServeProcess, pg_url: str) -> None:
    # a new connection per request, so that the kernel hands requests to both workers
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=90, limits=limits) as client:
        answers = await asyncio.wait_for(
            asyncio.gather(*(chat(client, two_workers.base_url) for _ in range(CHATS))), PATIENCE
        )
    assert [a for chat_answers in answers for a in chat_answers if a == 0] == []  # every message answered

    database = create_engine(pg_url)
    try:
        async with database.connect() as connection:
            rows = (await connection.execute(sa.select(inbox.c.id, inbox.c.chat_id, inbox.c.status))).all()
            turns = (
                await connection.execute(
                    sa.select(users.c.external_id, messages.c.text)
                    .join(conversations, conversations.c.id == messages.c.conversation_id)
                    .join(users, users.c.id == conversations.c.user_id)
                    .where(messages.c.direction == "in")
                )
            ).all()
    finally:
        await database.dispose()
    assert len(rows) == CHATS * len(TEXTS)
    assert Counter(status for _, _, status in rows) == {"done": CHATS * len(TEXTS)}
    # one inbound message row per message: a turn run twice would have recorded it twice
    assert len(turns) == CHATS * len(TEXTS)
    assert max(Counter(turns).values()) == 1
    assert {chat_id for _, chat_id, _ in rows} == {chat_id for chat_id, _ in turns}

    # each row answered once, and not all by the same worker
    answered = ANSWERED.findall(two_workers.log_path.read_text(errors="replace"))
    by_row = Counter(int(row) for _, row in answered)
    assert sorted(by_row) == sorted(row_id for row_id, _, _ in rows)
    assert set(by_row.values()) == {1}
    assert {worker for worker, _ in answered} == {"w0", "w1"}


def test_sigterm_to_the_parent_stops_every_worker(two_workers: ServeProcess) -> None:
    children = workers_of(two_workers)
    assert len(children) == 2
    assert two_workers.process is not None
    two_workers.process.send_signal(signal.SIGTERM)
    assert two_workers.process.wait(timeout=PATIENCE) == 0
    _gone, alive = psutil.wait_procs(children, timeout=PATIENCE)
    assert alive == []
    finished = re.findall(r" (w\d+) uvicorn\.error: Application shutdown complete", two_workers.log_tail(200))
    assert sorted(finished) == ["w0", "w1"]  # each finished its requests and turns, none was killed


def test_a_worker_that_dies_stops_the_others_with_an_error(two_workers: ServeProcess) -> None:
    first, second = sorted(workers_of(two_workers), key=lambda p: p.pid)
    second.kill()
    assert two_workers.process is not None
    assert two_workers.process.wait(timeout=PATIENCE) == 1
    assert psutil.wait_procs([first], timeout=PATIENCE)[1] == []
    assert "stopped on its own" in two_workers.log_tail(100)


def test_several_workers_on_sqlite_are_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--port", str(free_port()), "--workers", "2"],
        cwd=ROOT,
        env=serve_env(tmp_path, None),
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert done.returncode != 0
    assert "--workers 2 needs PostgreSQL" in done.stderr
    assert "DATABASE_URL" in done.stderr


async def test_a_ring_in_one_process_wakes_a_waiter_in_another(pg_url: str) -> None:
    """Two bells, each bridged on its own connection, stand for two worker processes."""
    import asyncpg  # type: ignore[import-untyped]

    key = b"k" * 32
    here, there = Bell(), Bell()
    bridges = [NotifyBridge(here, pg_url, key), NotifyBridge(there, pg_url, key)]
    wire: list[str] = []
    spy = await asyncpg.connect(asyncpg_dsn(pg_url))
    await spy.add_listener(CHANNEL, lambda _c, _pid, _channel, payload: wire.append(payload))
    for bridge in bridges:
        bridge.start()
    try:
        for bridge in bridges:
            await asyncio.wait_for(bridge.connected.wait(), PATIENCE)
        # Notifications from one sender arrive in order: once this one is heard, the "look at
        # everything" each bridge sends on connecting has been heard too and cannot wake anyone below.
        with there.listen("inbox") as synced:
            here.ring("inbox")
            await asyncio.wait_for(synced.wait(), PATIENCE)

        with there.listen(("chat", "telegram", "4915112345678")) as mine, there.listen(
            ("chat", "telegram", "4915187654321")
        ) as other:
            assert not mine.is_set()
            here.ring(("chat", "telegram", "4915112345678"))
            await asyncio.wait_for(mine.wait(), PATIENCE)
            assert not other.is_set()  # the label named this chat, not every chat
        await asyncio.wait_for(heard_on_the_wire(wire, "c:"), PATIENCE)
    finally:
        for bridge in bridges:
            await bridge.stop()
        await spy.close()
    assert not [payload for payload in wire if "4915112345678" in payload]  # the chat's label, not its id


async def heard_on_the_wire(wire: list[str], prefix: str) -> None:
    """Until the spy has heard a label starting with `prefix` (it listens on its own connection)."""
    while not any(label.startswith(prefix) for payload in wire for label in payload.split()):
        await asyncio.sleep(0.05)
