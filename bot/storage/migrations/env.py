"""Alembic environment: uses the connection Lotse hands over, or DATABASE_URL from the shell."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context

from bot.config import Settings
from bot.storage.tables import metadata


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_from_shell() -> None:
    from bot.storage.database import create_engine

    async def _go() -> None:
        engine = create_engine(Settings().resolved_database_url())
        async with engine.begin() as connection:
            await connection.run_sync(_run)
        await engine.dispose()

    asyncio.run(_go())


if context.is_offline_mode():
    context.configure(url=Settings().resolved_database_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    handed_over = context.config.attributes.get("connection")
    if handed_over is not None:
        _run(handed_over)
    else:
        _run_from_shell()
