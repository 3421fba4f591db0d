"""Privacy over the data's whole life: /delete leaves no trace, /mydata shows everything, retention.

The must-show test plays a whole story through the running service (Telegram webhook, inbox,
worker, outbox, sender, caseworker desk, machine translation) and then reads a full dump of the
database, as a data protection officer would: none of the erased user's texts, not their Telegram
id, while another user's data is still there (so the test fails if the dump were simply empty).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import random
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels.text import split_text
from bot.engine.engine import Engine
from bot.engine.messages import Inbound
from bot.engine.understanding import Understanding
from bot.handover.desk import Desk
from bot.i18n.catalogs import Catalogs
from bot.knowledge.content import Content
from bot.live.editions import Editions
from bot.storage.database import alembic_config, create_engine, upgrade
from bot.storage.deliveries import Deliveries
from bot.storage.handovers import Handovers
from bot.storage.retention import Retention, RetentionPolicy
from bot.storage.tables import audit_log, handover_notes, handovers, inbox, messages, outbox, users
from bot.translation.cache import TranslationCache
from tests.conftest import ROOT, Chat, all_text
from tests.console_app import ConsoleApp
from tests.fakes.libretranslate import FakeLibreTranslate
from tests.fakes.telegram import FakeBotApi
from tests.fakes.telegram_updates import Updates
from tests.harness import WEBHOOK_SECRET, running_service, telegram_settings
from tests.test_telegram import buttons

ASK_TR = "Bir danışmanla konuşmak istiyorum lütfen"
SECRET_TR = "Dosya numaram Zebrastreifen-7731, yarın randevum var"
REPLY_DE = "Guten Tag, Ihre Akte Okapi-4412 liegt bei uns."
NOTE = "Rückruf vereinbart, Stichwort Gürteltier-9953"
OTHER = "Nashorn-5521 wann ist die Sprechstunde?"


async def dump(url: str) -> str:
    """Everything in the database as SQL text: SQLite's iterdump, or pg_dump."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]

        def _iterdump() -> str:
            connection = sqlite3.connect(path)
            try:
                return "\n".join(connection.iterdump())
            finally:
                connection.close()

        return await asyncio.to_thread(_iterdump)
    plain = "postgresql://" + url.split("://", 1)[1]
    # asyncio's subprocesses do not work under Rasa's uvloop policy: a thread runs it instead
    done = await asyncio.to_thread(
        subprocess.run, ["pg_dump", "--no-owner", plain], capture_output=True, text=True, check=True
    )
    return done.stdout


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    """Wait for a condition the service reaches in its own time (generous for a slow machine)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the condition was not reached in time")
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------------------------- /delete
@pytest.fixture(scope="module")
def bot_api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as api:
        yield api


@pytest.fixture(scope="module")
def libre() -> Iterator[FakeLibreTranslate]:
    with FakeLibreTranslate() as fake:
        yield fake


async def test_delete_leaves_no_trace_of_the_user_in_a_database_dump(
    bot_api: FakeBotApi,
    libre: FakeLibreTranslate,
    own_database_url: str,
    understanding: Understanding,
) -> None:
    settings = dataclasses.replace(
        telegram_settings(own_database_url, bot_api.base_url, bot_api.token, webhook=True),
        translation_provider="libre",
        libretranslate_url=libre.url,
    )
    updates = Updates(start_update_id=random.randint(10**6, 10**9))
    user, other = random.randint(10**9, 10**10), random.randint(10**9, 10**10)
    async with running_service(settings, understanding) as running:
        desk, accounts, translation = (
            running.service.desk,
            running.service.accounts,
            running.service.translation,
        )
        assert desk is not None and accounts is not None and translation is not None

        client = httpx.AsyncClient(base_url=running.base_url, timeout=30)

        async def post(update: dict[str, object]) -> int:
            """Deliver an update as Telegram does: a webhook POST with the secret token."""
            headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
            return (await client.post("/telegram/webhook", json=update, headers=headers)).status_code

        async def say(update: dict[str, object], chat: int) -> list[dict[str, object]]:
            """Deliver an update by webhook and wait until the chat's answer to it has arrived."""
            before = len(bot_api.sent("sendMessage", chat))
            assert await post(update) == 200
            await until(lambda: _more(bot_api, chat, before))
            await asyncio.sleep(0)  # let a second message of the same answer be counted next time
            return bot_api.sent("sendMessage", chat)

        # another user, whose data must survive
        await say(updates.command(other, "/start de_reutlingen", language_code="de"), other)
        await say(updates.text(other, OTHER, language_code="de"), other)

        # the user: a handover with a caseworker's reply and note, their own texts, a /mydata
        await say(updates.command(user, "/start tr_reutlingen", language_code="tr"), user)
        assert await post(updates.text(user, ASK_TR, language_code="tr")) == 200
        await until(lambda: _asks_consent(bot_api, user))
        await say(updates.callback(user, "handover:yes", language_code="tr"), user)
        await say(updates.text(user, SECRET_TR, language_code="tr"), user)
        weber = await accounts.create(
            f"weber-{uuid.uuid4().hex[:8]}",
            "ein langes Passwort 1234",
            "caseworker",
            ["im-stadt-reutlingen"],
            "Frau Weber",
        )
        async with desk.store.engine.connect() as conn:
            case_id = (await conn.execute(sa.select(sa.func.max(handovers.c.id)))).scalar_one()
        view = await desk.open(weber, case_id)  # translates the transcript (and fills the cache)
        assert any(line.text == SECRET_TR and line.german for line in view.lines)
        await desk.claim(weber, case_id)
        preview = await desk.preview(weber, case_id, REPLY_DE)
        await desk.reply(weber, case_id, preview.german, preview.text, machine=preview.machine)
        await desk.note(weber, case_id, NOTE)
        await until(lambda: _contains(bot_api, user, "Okapi-4412"))
        await desk.close(weber, case_id)
        exported = await say(updates.command(user, "/mydata", language_code="tr"), user)
        await until(lambda: _contains(bot_api, user, "Zebrastreifen-7731"))
        assert any("Okapi-4412" in str(m["text"]) for m in exported[-3:])

        # /delete, confirmed with the button
        await say(updates.command(user, "/delete", language_code="tr"), user)
        press = updates.callback(user, "privacy:delete", language_code="tr")
        farewell = len(await say(press, user))
        engine = running.service.lotse.database

        async def nothing_left_in_the_outbox() -> bool:
            async with engine.connect() as conn:
                left = await conn.execute(
                    sa.select(sa.func.count()).select_from(outbox).where(outbox.c.chat_id == str(user))
                )
                return left.scalar_one() == 0

        await until(nothing_left_in_the_outbox)

        # Telegram delivers the confirming button press again: it is recognised, not processed anew
        assert await post(press) == 200
        await asyncio.sleep(1.0)  # time in which a wrongly processed duplicate would have answered
        assert len(bot_api.sent("sendMessage", user)) == farewell

        # the process's translation cache forgot the user's texts: translating one calls the provider again
        calls = len(libre.translations())
        await translation.translate(SECRET_TR, "tr", "de")
        assert len(libre.translations()) == calls + 1

        await client.aclose()

    text = await dump(own_database_url)
    for trace in ("Zebrastreifen-7731", "Okapi-4412", "Gürteltier-9953", ASK_TR, str(user)):
        assert trace not in text, f"{trace!r} is still in the database"
    assert "Nashorn-5521" in text and str(other) in text  # the other user's data is all there
    assert "erased" in text  # the audit log says that a case was erased, and no more
    if own_database_url.startswith("sqlite"):
        raw = await raw_sqlite_bytes(own_database_url)
        for trace in ("Zebrastreifen-7731", "Okapi-4412", "Gürteltier-9953"):
            assert trace.encode() not in raw, f"{trace!r} is still in the file's free space"
        assert b"Nashorn-5521" in raw


async def raw_sqlite_bytes(url: str) -> bytes:
    """The database file itself after a checkpoint: what a disk image would show, free pages included."""
    path = url.split("///", 1)[1]

    def _read() -> bytes:
        connection = sqlite3.connect(path)
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()
        wal = Path(path + "-wal")
        return Path(path).read_bytes() + (wal.read_bytes() if wal.exists() else b"")

    return await asyncio.to_thread(_read)


def _more(api: FakeBotApi, chat: int, before: int) -> Awaitable[bool]:
    async def check() -> bool:
        return len(api.sent("sendMessage", chat)) > before

    return check()


def _asks_consent(api: FakeBotApi, chat: int) -> Awaitable[bool]:
    async def check() -> bool:
        sent = api.sent("sendMessage", chat)
        return any(b["callback_data"] == "handover:yes" for m in sent for b in buttons(m))

    return check()


def _contains(api: FakeBotApi, chat: int, needle: str) -> Awaitable[bool]:
    async def check() -> bool:
        return any(needle in str(m.get("text", "")) for m in api.sent("sendMessage", chat))

    return check()


# ---------------------------------------------------------------------------------- console
async def test_the_console_shows_a_case_whose_user_erased_their_data(
    own_engine: Engine, own_database: AsyncEngine, content: Content, catalogs: Catalogs
) -> None:
    desk = Desk(Handovers(own_database), Editions(content, catalogs), translator=_NoTranslation())
    console = ConsoleApp(own_database, desk)
    try:
        chat = Chat(own_engine)
        await chat.say("ich möchte mit einem Menschen sprechen", town="reutlingen")
        await chat.press("handover:yes")
        client, _staff = await console.signed_in("caseworker", "im-stadt-reutlingen")
        queue = await client.get("/console/queue")
        async with own_database.connect() as conn:
            case_id = (await conn.execute(sa.select(sa.func.max(handovers.c.id)))).scalar_one()
        assert f"#{case_id}" in queue.text and "vom Nutzer gelöscht" not in queue.text

        await chat.say("/delete")
        await chat.press("privacy:delete")

        queue = await client.get("/console/queue")
        assert (
            queue.status_code == 200 and "vom Nutzer gelöscht" in queue.text and f"#{case_id}" in queue.text
        )
        page = await client.get(f"/console/cases/{case_id}")
        assert page.status_code == 410 and "vom Nutzer gelöscht" in page.text
        csrf = await _csrf(client)
        reply = await client.post(f"/console/cases/{case_id}/reply", data={"csrf": csrf, "german": "Hallo?"})
        assert reply.status_code == 410 and "vom Nutzer gelöscht" in reply.text
        # a caseworker of another team learns nothing about it
        stranger, _ = await console.signed_in("caseworker", "im-kreis-ermstal")
        assert (await stranger.get(f"/console/cases/{case_id}")).status_code == 404
        assert "vom Nutzer gelöscht" not in (await stranger.get("/console/queue")).text
    finally:
        await console.close()


class _NoTranslation:
    async def translate(self, text: str, source: str | None, target: str) -> object:
        raise AssertionError("German chats need no translation")

    async def translate_many(self, texts: object, source: str | None, target: str) -> list[None]:
        return []


async def _csrf(client: object) -> str:
    import re

    import httpx

    assert isinstance(client, httpx.AsyncClient)
    page = await client.get("/console/queue")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', page.text
    )
    assert found, "the console pages carry a CSRF token"
    return found.group(1)


# ---------------------------------------------------------------------------------- /mydata
async def test_mydata_exports_every_conversation_message_and_handover(own_engine: Engine) -> None:
    start = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc)
    chat = Chat(own_engine, now=start)
    await chat.say("/start de_metzingen")
    await chat.say("Wann ist die Sprechstunde? Kennwort Kolibri-3318")
    await chat.say("ich möchte mit einem Menschen sprechen")
    await chat.press("handover:yes")
    reply = await chat.say("/mydata")
    text = all_text(reply)
    assert "Kolibri-3318" in text  # a message, with its time
    assert "20.11.26" in text or "20.11.2026" in text
    assert "Metzingen" in text  # the town by name
    team = own_engine.editions.content.teams
    assert any(t.name in text for t in team.values())  # the handover: which team
    assert "Deutsch" in text  # the language


async def test_a_long_export_is_split_into_messages_that_keep_every_line(own_engine: Engine) -> None:
    start = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc)
    chat = Chat(own_engine)
    for n in range(30):  # a minute apart: flood control is not what this is about
        chat.now = start + dt.timedelta(minutes=n)
        await chat.say(f"Frage {n:02d}: " + "Wie finde ich einen Kitaplatz für mein Kind? " * 4)
    chat.now = start + dt.timedelta(hours=1)
    export = next(m.text for m in (await chat.say("/mydata")).messages if "Frage 29" in m.text)
    assert len(export) > 4096
    parts = split_text(export, 4096)
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    joined = "\n".join(parts)
    assert all(f"Frage {n:02d}" in joined for n in range(30))


# ---------------------------------------------------------------------------------- retention
def _at(days: float) -> dt.datetime:
    return dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc) + dt.timedelta(days=days)


POLICY = RetentionPolicy(
    conversations=dt.timedelta(days=90), handovers=dt.timedelta(days=365), pipeline=dt.timedelta(hours=168)
)


async def _handover(chat: Chat, now: dt.datetime) -> None:
    chat.now = now
    await chat.say("ich möchte mit einem Menschen sprechen", town="reutlingen")
    await chat.press("handover:yes")


async def test_retention_deletes_old_conversations_and_keeps_handover_records_without_text(
    own_engine: Engine, own_database: AsyncEngine
) -> None:
    old, fresh, waiting, closed = (Chat(own_engine) for _ in range(4))
    old.now = _at(0)
    await old.say("Leguan-1111 wann ist die Sprechstunde?")
    fresh.now = _at(0)
    await fresh.say("Tukan-2222 wann ist die Sprechstunde?")
    fresh.now = _at(60)
    await fresh.say("noch eine Frage")
    await _handover(waiting, _at(0))  # stays open: a person is working on it
    await _handover(closed, _at(0))
    async with own_database.begin() as conn:
        case_id = (await conn.execute(sa.select(sa.func.max(handovers.c.id)))).scalar_one()
        await conn.execute(
            sa.update(handovers).where(handovers.c.id == case_id).values(status="closed", closed_at=_at(1))
        )
        await conn.execute(
            sa.insert(handover_notes).values(
                handover_id=case_id, kind="note", text="Pelikan-3333", created_at=_at(1)
            )
        )
        await conn.execute(
            sa.insert(audit_log).values(
                username="weber", action="close", handover_id=case_id, created_at=_at(1)
            )
        )

    job = Retention(own_database, POLICY, clock=lambda: _at(100))
    dry = await job.run(dry_run=True)
    assert await _texts(own_database, "Leguan-1111") == 1  # a dry run changes nothing
    report = await job.run()
    assert dry.counts() == report.counts()
    assert report.users == 2 and report.notes == 1 and report.handovers_kept_without_text == 1

    assert await _texts(own_database, "Leguan-1111") == 0
    assert await _texts(own_database, "Tukan-2222") == 1  # active 40 days ago
    assert await _user_exists(own_database, waiting.user)  # an open handover is never deleted
    assert not await _user_exists(own_database, closed.user)
    async with own_database.connect() as conn:
        record = (await conn.execute(sa.select(handovers).where(handovers.c.id == case_id))).one()
        notes = (await conn.execute(sa.select(sa.func.count()).select_from(handover_notes))).scalar_one()
    assert record.conversation_id is None and record.team_id == "im-stadt-reutlingen" and notes == 0

    # a year after it was closed the record goes too, with the audit log of the time
    later = await Retention(own_database, POLICY, clock=lambda: _at(367)).run()
    assert later.handovers >= 1 and later.audit_entries >= 1
    async with own_database.connect() as conn:
        assert (
            await conn.execute(sa.select(handovers.c.id).where(handovers.c.id == case_id))
        ).first() is None


async def test_retention_purges_processed_pipeline_rows_but_not_pending_ones(
    own_database: AsyncEngine,
) -> None:
    deliveries = Deliveries(own_database)
    done = await deliveries.accept(Inbound("telegram", "555", text="Storch-4444"), "u1", _at(0))
    pending = await deliveries.accept(Inbound("telegram", "556", text="Reiher-5555"), "u2", _at(0))
    async with own_database.begin() as conn:
        await conn.execute(
            sa.update(inbox).where(inbox.c.id == done.inbox_id).values(status="done", done_at=_at(0))
        )
    report = await Retention(own_database, POLICY, clock=lambda: _at(8)).run()
    assert report.inbox == 1
    async with own_database.connect() as conn:
        left = (await conn.execute(sa.select(inbox.c.id))).scalars().all()
    assert left == [pending.inbox_id]


async def test_two_workers_running_retention_at_once_delete_each_row_once(
    own_engine: Engine, own_database: AsyncEngine
) -> None:
    chats = [Chat(own_engine, now=_at(0)) for _ in range(6)]
    for chat in chats:
        await chat.say("/start de_reutlingen")
    first = Retention(own_database, POLICY, clock=lambda: _at(100), batch=2)
    second = Retention(own_database, POLICY, clock=lambda: _at(100), batch=2)
    reports = await asyncio.gather(first.run(), second.run())
    assert sum(r.users for r in reports) == 6
    assert not any([await _user_exists(own_database, c.user) for c in chats])


async def test_retention_runs_by_itself_in_the_service_loop(
    own_engine: Engine, own_database: AsyncEngine
) -> None:
    chat = Chat(own_engine, now=_at(0))
    await chat.say("Flamingo-6666")
    task = asyncio.create_task(
        Retention(own_database, POLICY, clock=lambda: _at(100)).run_periodically(interval=0.2)
    )
    try:
        await until(lambda: _gone(own_database, "Flamingo-6666"))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_lotse_retention_dry_run_prints_counts(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "RETENTION_DAYS": "30"}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot.cli", "retention", "--dry-run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "after 30 days" in done.stdout and "messages" in done.stdout and "would delete" in done.stdout


# ---------------------------------------------------------------------------------- deduplication keys
async def test_the_inbox_keeps_only_a_salted_hash_of_the_message_identity(own_database: AsyncEngine) -> None:
    wamid = "wamid.HBgMNDkxNTEyMzQ1Njc4FQIAEhggQUJDREVGMDEyMzQ1Njc4OUFCQ0RFRjAxMjM0NTY3ODkA"
    deliveries = Deliveries(own_database)
    first = await deliveries.accept(Inbound("whatsapp", "4915123456789", text="hallo"), wamid, _at(0))
    again = await Deliveries(own_database).accept(
        Inbound("whatsapp", "4915123456789", text="hallo"), wamid, _at(0)
    )
    assert again.duplicate and again.inbox_id == first.inbox_id  # another worker recognises it too
    async with own_database.connect() as conn:
        stored = (await conn.execute(sa.select(inbox.c.external_id))).scalar_one()
    assert wamid not in stored and "4915123456789" not in stored


async def test_the_migration_hashes_existing_inbox_keys_so_redeliveries_stay_recognised(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    database = create_engine(url)
    try:
        async with database.begin() as conn:
            await conn.run_sync(lambda sync: _upgrade_to(sync, "0005_delivery_receipts"))
            await conn.execute(
                sa.text(
                    "INSERT INTO inbox (channel, external_id, chat_id, body, status, attempts, created_at)"
                    " VALUES ('telegram', 'u77', '999', '{}', 'done', 1, '2026-11-01 10:00:00')"
                )
            )
        await upgrade(database)
        again = await Deliveries(database).accept(Inbound("telegram", "999", text="x"), "u77", _at(320))
        assert again.duplicate
    finally:
        await database.dispose()


def _upgrade_to(connection: object, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


# ---------------------------------------------------------------------------------- translation cache
def test_the_translation_cache_forgets_texts_and_expires_entries() -> None:
    now = [0.0]
    cache = TranslationCache(size=10, lifetime=600, clock=lambda: now[0])
    cache.put(("libre", "tr", "de", "Zebrastreifen"), "Zebra crossing")
    cache.put(("libre", "de", "tr", "Guten Tag"), "İyi günler")
    cache.put(("libre", "de", "tr", "Hallo"), "Merhaba")
    assert cache.forget({"Zebrastreifen", "İyi günler"}) == 2  # by source text or by translation
    assert cache.get(("libre", "tr", "de", "Zebrastreifen")) is None
    assert cache.get(("libre", "de", "tr", "Guten Tag")) is None
    assert cache.get(("libre", "de", "tr", "Hallo")) == "Merhaba"
    now[0] = 601.0
    assert cache.get(("libre", "de", "tr", "Hallo")) is None and len(cache) == 0


# ---------------------------------------------------------------------------------- helpers
async def _texts(database: AsyncEngine, needle: str) -> int:
    async with database.connect() as conn:
        found = await conn.execute(
            sa.select(sa.func.count()).select_from(messages).where(messages.c.text.contains(needle))
        )
        return int(found.scalar_one())


def _gone(database: AsyncEngine, needle: str) -> Awaitable[bool]:
    async def check() -> bool:
        return await _texts(database, needle) == 0

    return check()


async def _user_exists(database: AsyncEngine, external_id: str) -> bool:
    async with database.connect() as conn:
        found = await conn.execute(sa.select(users.c.id).where(users.c.external_id == external_id))
        return found.first() is not None
