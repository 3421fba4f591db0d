"""Creating the async engine and bringing the schema up to date with Alembic."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from bot.storage.errors import StorageError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
READ_ONLY = "lotse_read_only"
MIGRATION_LOCK = 0x4C6F744D  # "LotM": one process migrates a PostgreSQL database at a time


def as_utc(moment: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes; everything Lotse stores is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, for transactions that only read (SQLite: no write lock taken)."""
    return engine.execution_options(**{READ_ONLY: True})


class QueuedWritesEngine(AsyncEngine):  # type: ignore[misc]  # SQLAlchemy 1.4 has no type hints
    """SQLite: write transactions of this process wait their turn in a queue, not in SQLite.

    SQLite has one writer at a time. A second `BEGIN IMMEDIATE` on another pooled connection gets
    SQLITE_BUSY, and the busy handler retries after sleeps that grow to 100 ms: under 50 concurrent
    chats, turns slept in that handler while the database was free, and answers took seconds.
    Waiting on an asyncio lock hands the write lock over the moment it is free, in arrival order.
    Readers (`reader(engine)`, a plain engine) do not queue; other processes still meet the busy
    timeout, as before.
    """

    def __init__(self, sync_engine: Engine) -> None:
        super().__init__(sync_engine)
        # one lock per event loop: tests and the CLI may use one engine from several loops in turn
        self._writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:  # type: ignore[override]
        loop = asyncio.get_running_loop()
        writer = self._writers.setdefault(loop, asyncio.Lock())
        async with writer, super().begin() as connection:
            yield connection


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL and foreign keys, PostgreSQL a modest pool."""
    if url.startswith("sqlite"):
        # SQLAlchemy 1.4 gives aiosqlite a NullPool: a new connection (and thread) per transaction,
        # about 10 ms per message. A small pool keeps connections open; WAL lets readers run beside
        # the one writer, and the busy timeout makes concurrent writers wait instead of failing.
        engine = create_async_engine(
            url,
            future=True,
            hide_parameters=True,  # errors and echo would otherwise quote messages and user ids
            connect_args={"timeout": 30},
            poolclass=AsyncAdaptedQueuePool,
            pool_size=4,
            max_overflow=4,
        )

        @event.listens_for(engine.sync_engine, "connect")  # type: ignore[untyped-decorator]
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # Lotse issues BEGIN itself, see below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Erased and expired rows are overwritten with zeros, not left in free pages of the file.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        # A deferred BEGIN lets two transactions read, and then the second one's first write fails at
        # once with SQLITE_BUSY (its snapshot is stale; the busy timeout does not help). BEGIN
        # IMMEDIATE takes the write lock up front, so concurrent turns queue instead of failing.
        # Readers (`reader(engine)`) begin deferred: they never write, and must not queue behind writers.
        @event.listens_for(engine.sync_engine, "begin")  # type: ignore[untyped-decorator]
        def _begin_immediate(connection: Any) -> None:
            read_only = connection.get_execution_options().get(READ_ONLY, False)
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return QueuedWritesEngine(engine.sync_engine)
    return create_async_engine(
        url, future=True, hide_parameters=True, pool_size=10, max_overflow=10, pool_pre_ping=True
    )


def alembic_config() -> Config:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def upgrade(engine: AsyncEngine) -> None:
    """Apply all migrations; safe to call at every start."""
    config = alembic_config()

    def _run(connection: Any) -> None:
        if connection.dialect.name == "postgresql":
            # Workers started together would create the same tables at once and all but one fail;
            # the others wait here and then find the schema at head. Released at commit.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    except OSError as exc:
        raise StorageError(f"cannot reach the database: {exc}") from exc
