"""Killed mid-burst and restarted: every Telegram message is answered exactly once, in order.

`lotse serve` runs as a real process; a burst of webhook updates from many users is posted to it
and the process is killed with SIGKILL in the middle. Updates it had not acknowledged are posted
again after the restart (as Telegram redelivers them), and some acknowledged ones too (Telegram
may deliver twice). What each chat finally received must equal, message for message, what the
same conversation produces when nothing goes wrong.

While the process is killed, the Bot API answers every sendMessage with 502 (an outage), so no
send is in flight at the moment of the kill: the one window no outbox can close (Telegram accepted
a message, the process died before recording it) is documented in `bot/pipeline/sender.py` and
kept out of this test, which is about the inbox, the engine's transaction and the outbox.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.engine.understanding import Understanding
from tests.fakes.telegram import FakeBotApi
from tests.fakes.telegram_updates import Updates
from tests.harness import WEBHOOK_SECRET, ServeProcess, free_port
from tests.reference import expected_replies, script

USERS = 30
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    with FakeBotApi() as api:
        yield api


async def test_killed_mid_burst_every_message_is_answered_exactly_once(
    fake: FakeBotApi, database_url: str, understanding: Understanding, tmp_path: Path
) -> None:
    updates = Updates(start_update_id=int(time.time() * 1000) % 10**9)
    languages = ("uk", "ar", "tr")
    base = 7 * 10**9 + int(time.time()) % 10**6 * 1000
    scripts = {base + i: script(updates, base + i, languages[i % 3]) for i in range(USERS)}
    expected = await expected_replies(scripts, understanding, tmp_path)

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOTSE_VAR_DIR": str(tmp_path),
        "TELEGRAM_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TELEGRAM_CHAT_INTERVAL": "0",
        "LOTSE_LEASE_SECONDS": "3",
    }
    server = ServeProcess(env, port, tmp_path / "server.log")
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    acknowledged: dict[int, int] = dict.fromkeys(scripts, 0)  # per user: updates acknowledged so far
    total = sum(len(s) for s in scripts.values())
    try:
        server.start()
        fake.fail_for(3600, 502, method="sendMessage")  # an outage at Telegram while we crash

        async def post_user(client: httpx.AsyncClient, user: int) -> None:
            for data in scripts[user][acknowledged[user] :]:
                response = await client.post(url, json=data, headers=HEADERS)
                if response.status_code != 200:
                    return
                acknowledged[user] += 1

        async def burst(users: list[int]) -> None:
            async with httpx.AsyncClient(timeout=10) as client:
                await asyncio.gather(*(post_user(client, u) for u in users), return_exceptions=True)

        sending = asyncio.create_task(burst(list(scripts)))
        while sum(acknowledged.values()) < total * 0.4:
            await asyncio.sleep(0.005)
        server.kill()
        await sending
        assert 0 < sum(acknowledged.values()) < total  # the kill really came in the middle

        redelivered = [s[acknowledged[u] - 1] for u, s in scripts.items() if acknowledged[u]]
        server.start()
        fake.heal()
        async with httpx.AsyncClient(timeout=10) as client:
            for data in redelivered[::3]:  # Telegram delivering an acknowledged update again
                assert (await client.post(url, json=data, headers=HEADERS)).status_code == 200
        await burst(list(scripts))
        assert all(acknowledged[u] == len(s) for u, s in scripts.items())

        def complete(api: FakeBotApi) -> bool:
            return all(len(api.texts(u)) >= len(expected[u]) for u in scripts)

        await fake.await_for(complete, timeout=120)
        await asyncio.sleep(1.5)  # anything sent twice would arrive now
        received = {u: fake.texts(u) for u in scripts}
    finally:
        server.stop()

    lost = sum(max(0, len(expected[u]) - len(received[u])) for u in scripts)
    duplicated = sum(max(0, len(received[u]) - len(expected[u])) for u in scripts)
    print(f"\nkilled mid-burst: {total} updates, lost {lost}, duplicated {duplicated}")
    for u in scripts:
        if received[u] != expected[u]:
            print(u, [t[:40] for t in expected[u]], [t[:40] for t in received[u]], sep="\n  ")
    assert (lost, duplicated) == (0, 0)
    assert received == expected  # every reply, once, in the order of the conversation
