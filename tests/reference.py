"""Reference conversations for the fault tests: what each chat receives when nothing goes wrong.

A fault test posts the same Telegram updates to a service under faults and compares what every chat
finally received, message for message, with what the same updates produce through the engine alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from telegram import Update

from bot.app import build
from bot.channels.telegram.convert import to_inbound
from bot.config import Settings
from bot.engine.understanding import Understanding
from tests.fakes.telegram_updates import Updates


def script(updates: Updates, user: int, language: str) -> list[dict[str, Any]]:
    """One user's messages: answers that do not depend on the time of day, so runs compare."""
    questions = {
        "uk": ("спортивні секції для дітей", "курси німецької мови"),
        "ar": ("أين أجد نادي رياضي للأطفال؟", "أريد أن أتعلم اللغة الألمانية"),
        "tr": ("çocuklar için spor kursları", "almanca kursu nerede"),
    }[language]
    return [
        updates.command(user, f"/start {language}", language_code=language),
        updates.text(user, questions[0], language_code=language),
        updates.callback(user, "town:reutlingen", language_code=language),
        updates.sticker(user, language_code=language),
        updates.text(user, questions[1], language_code=language),
        updates.command(user, "/menu", language_code=language),
    ]


async def expected_replies(
    scripts: dict[int, list[dict[str, Any]]], understanding: Understanding, tmp: Path
) -> dict[int, list[str]]:
    """What each chat receives when nothing goes wrong: the same updates through the same engine."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp / 'reference.db'}", var_dir=tmp)
    lotse = await build(settings, understanding)
    try:
        result: dict[int, list[str]] = {}
        for user, updates in scripts.items():
            texts: list[str] = []
            for data in updates:
                received = to_inbound(Update.de_json(data, None))
                assert received is not None
                reply = await lotse.engine.handle(received.inbound)
                texts += [m.text for m in reply.messages]
            result[user] = texts
        return result
    finally:
        await lotse.close()
