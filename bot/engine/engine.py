"""The engine: one inbound message in, one reply out, with the state stored in between.

Understanding runs before the database transaction opens (it is CPU work and needs no state), so
that a transaction is held only for the few statements that read and write the conversation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace

from bot.engine.dialogue import Dialogue
from bot.engine.messages import Inbound, Outbound, Reply
from bot.engine.normalise import clean, has_words
from bot.engine.state import ConversationState
from bot.engine.store import ConversationStore
from bot.engine.understanding import EMPTY_PARSE, Understanding
from bot.i18n.catalogs import Translator
from bot.i18n.langid import LanguageIdentifier
from bot.i18n.languages import SOURCE_LANGUAGE, supported
from bot.live.editions import Editions


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Engine:
    def __init__(
        self,
        editions: Editions,
        understanding: Understanding,
        store: ConversationStore,
        language_identifier: LanguageIdentifier,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.editions = editions
        self.understanding = understanding
        self.store = store
        self.langid = language_identifier
        self.clock = clock
        self.dialogue = Dialogue(editions)

    def failure_notice(self, inbound: Inbound) -> tuple[Outbound, str]:
        """An apology for a message that could not be processed, in the best language known."""
        language = supported(inbound.language_hint) or SOURCE_LANGUAGE
        _ = Translator(self.editions.catalogs, language)._
        text = _(
            "Entschuldigung, bei Ihrer Nachricht ist ein Fehler aufgetreten. Bitte schreiben Sie sie noch einmal."
        )
        return Outbound(text), language

    async def handle(
        self,
        inbound: Inbound,
        now: dt.datetime | None = None,
        town: str | None = None,
        language: str | None = None,
    ) -> Reply:
        """Process one message. `town` and `language` preset the user's choices (CLI, deep links)."""
        moment = now or self.clock()
        text = clean(inbound.text)
        understand = (
            bool(text)
            and has_words(text)
            and not inbound.payload
            and not text.startswith("/")
            and inbound.kind != "group"
        )
        parse = await self.understanding.parse(text) if understand else EMPTY_PARSE
        detected = self.langid.identify(text) if understand else None
        cleaned = replace(inbound, text=text)
        async with self.store.transaction() as tx:
            state = await tx.load(inbound.channel, inbound.user_id, moment)
            if town:
                state.town = town
            if language:
                state.language, state.language_explicit = language, True
            turn = self.dialogue.respond(state, cleaned, parse, detected, moment)
            if turn.erase:
                await tx.erase(state)  # nothing of this turn is stored either
            else:
                if turn.export:
                    turn.messages.append(Outbound(_export_text(state, await tx.export(state))))
                stored = replace(cleaned, text=inbound.text)  # keep the original text
                await tx.record(state, stored, turn, moment)
            if inbound.inbox_id is not None:
                await tx.complete(inbound, turn.messages, turn.language, moment, erased=turn.erase)
        entities = {e.entity: e.value for e in parse.entities}
        return Reply(
            messages=turn.messages,
            language=turn.language,
            intent=turn.intent,
            confidence=round(turn.confidence, 4),
            answer_key=turn.answer_key,
            handover=turn.handover,
            entities=entities,
        )


def _export_text(state: ConversationState, rows: list[tuple[str, str, dt.datetime]]) -> str:
    """Everything stored about the user, as plain text they can keep."""
    lines = [
        f"language: {state.language or '-'}",
        f"town: {state.town or '-'}",
        f"messages: {len(rows)}",
        "",
    ]
    for direction, text, created in rows:
        who = ">" if direction == "in" else "<"
        lines.append(f"{who} {created:%Y-%m-%d %H:%M} {text}")
    return "\n".join(lines)
