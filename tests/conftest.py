"""Shared fixtures: the example content, the NLU model (trained once per run), and databases.

Every engine test runs against SQLite and, where the server at 127.0.0.1:5432 answers, PostgreSQL:
a fresh database is created for the run and dropped afterwards.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.engine.engine import Engine
from bot.engine.messages import Inbound, Reply
from bot.engine.understanding import Understanding
from bot.i18n.catalogs import Catalogs
from bot.i18n.langid import LanguageIdentifier
from bot.knowledge.content import Content, load_content
from bot.live.editions import Editions
from bot.storage.database import create_engine, upgrade
from bot.storage.repository import SqlConversationStore
from bot.storage.tables import conversations, messages, users

pytest_plugins = ("tests.browser",)  # the Chromium and Playwright fixtures of the browser tests
BERLIN = ZoneInfo("Europe/Berlin")
PG_ADMIN_URL = os.environ.get("LOTSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def berlin(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def content(settings: Settings) -> Content:
    return load_content(settings.content_dir)


@pytest.fixture(scope="session")
def catalogs(settings: Settings) -> Catalogs:
    return Catalogs.load(settings.locales_dir)


@pytest.fixture(scope="session")
def langid(settings: Settings) -> LanguageIdentifier:
    return LanguageIdentifier.from_nlu(settings.nlu_dir)


@pytest.fixture(scope="session")
def understanding(settings: Settings) -> Understanding:
    """The trained model as the product reads it; trained here if `lotse train` has not made a current one."""
    from bot.app import load_understanding
    from bot.understanding.training import train

    train(settings)
    return load_understanding(settings)


def _pg_reachable() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'lotse.db'}"


@contextmanager
def fresh_postgres_database(prefix: str = "lotse_test") -> Iterator[str]:
    """A new, empty database on the local server for the block, dropped afterwards (or skip)."""
    if not _pg_reachable():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    async def _exec(sql: str) -> None:
        connection = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(_exec(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"postgresql+asyncpg://{base.split('://', 1)[1]}/{name}"
    finally:
        asyncio.run(_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated database of its own for a test that works below the engine (console, storage)."""
    engine = create_engine(database_url)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def own_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new database for one test, when it must see only its own data (a dump, a retention run,
    statistics counted over the whole database)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'own.db'}"
        return
    with fresh_postgres_database("lotse_own") as url:
        yield url


@pytest.fixture
async def own_database(own_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(own_database_url)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def own_engine(
    own_database: AsyncEngine,
    content: Content,
    catalogs: Catalogs,
    understanding: Understanding,
    langid: LanguageIdentifier,
) -> Engine:
    """The engine on `own_database`."""
    return Engine(Editions(content, catalogs), understanding, SqlConversationStore(own_database), langid)


@pytest.fixture(scope="session")
async def engine(
    database_url: str,
    content: Content,
    catalogs: Catalogs,
    understanding: Understanding,
    langid: LanguageIdentifier,
) -> AsyncIterator[Engine]:
    database = create_engine(database_url)
    await upgrade(database)
    yield Engine(Editions(content, catalogs), understanding, SqlConversationStore(database), langid)
    await database.dispose()


class Chat:
    """One user talking to the engine, as a test would narrate it."""

    def __init__(self, engine: Engine, now: dt.datetime | None = None) -> None:
        self.engine = engine
        self.user = f"u-{uuid.uuid4().hex[:10]}"
        self.now = now

    async def say(self, text: str, **kwargs: object) -> Reply:
        return await self.engine.handle(Inbound("test", self.user, text=text), now=self.now, **kwargs)  # type: ignore[arg-type]

    async def press(self, payload: str) -> Reply:
        return await self.engine.handle(Inbound("test", self.user, payload=payload), now=self.now)


@pytest.fixture
def chat(engine: Engine) -> Chat:
    return Chat(engine)


def all_text(reply: Reply) -> str:
    return "\n".join(m.text for m in reply.messages)


def payloads(reply: Reply) -> list[str]:
    return [b.payload for m in reply.messages for b in m.buttons]


ROOT = Path(__file__).resolve().parent.parent


async def stored_inbound(database: AsyncEngine, channel: str, user: str) -> list[str]:
    """The texts the transcript holds from this user, oldest first."""
    async with database.connect() as conn:
        rows = await conn.execute(
            sa.select(messages.c.text)
            .join(conversations, messages.c.conversation_id == conversations.c.id)
            .join(users, conversations.c.user_id == users.c.id)
            .where(users.c.channel == channel, users.c.external_id == user, messages.c.direction == "in")
            .order_by(messages.c.id)
        )
        return [row.text for row in rows]
