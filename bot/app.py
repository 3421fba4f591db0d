"""Assembling a running Lotse from settings: content, catalogs, NLU model, database, engine."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.engine.engine import Engine
from bot.engine.flood import FloodControl
from bot.engine.understanding import Understanding
from bot.i18n.catalogs import Catalogs
from bot.i18n.langid import LanguageIdentifier
from bot.knowledge.content import load_content
from bot.live.editions import Editions
from bot.storage.database import create_engine, upgrade
from bot.storage.repository import SqlConversationStore


@dataclass
class Lotse:
    settings: Settings
    editions: Editions
    engine: Engine
    database: AsyncEngine

    async def close(self) -> None:
        await self.database.dispose()


def load_understanding(settings: Settings) -> Understanding:
    from bot.understanding.linear import LinearUnderstanding

    return LinearUnderstanding.load(settings.model_path)


async def build(settings: Settings | None = None, understanding: Understanding | None = None) -> Lotse:
    settings = settings or Settings()
    editions = Editions(load_content(settings.content_dir), Catalogs.load(settings.locales_dir))
    database = create_engine(settings.resolved_database_url())
    await upgrade(database)
    engine = Engine(
        editions=editions,
        understanding=understanding or load_understanding(settings),
        store=SqlConversationStore(database),
        language_identifier=LanguageIdentifier.from_nlu(settings.nlu_dir),
        flood=FloodControl(limit=settings.flood_limit),
    )
    return Lotse(settings, editions, engine, database)
