"""The engine: one inbound message in, one reply out, with the state stored in between.

Understanding runs before the database transaction opens (it is CPU work and needs no state), so
that a transaction is held only for the few statements that read and write the conversation.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import replace

from bot.engine.dialogue import Dialogue
from bot.engine.export import export_text
from bot.engine.flood import FloodControl
from bot.engine.messages import Inbound, Outbound, Reply
from bot.engine.normalise import MAX_UNDERSTOOD_CHARS, for_storage, has_words, tidy
from bot.engine.store import ConversationStore
from bot.engine.understanding import EMPTY_PARSE, Understanding
from bot.i18n.catalogs import Translator
from bot.i18n.langid import LanguageIdentifier
from bot.i18n.languages import SOURCE_LANGUAGE, supported
from bot.live.editions import Editions

log = logging.getLogger(__name__)


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
        flood: FloodControl | None = None,
    ) -> None:
        self.editions = editions
        self.understanding = understanding
        self.store = store
        self.langid = language_identifier
        self.clock = clock
        self.flood = flood or FloodControl()
        self.dialogue = Dialogue(editions)
        self._erase_hooks: list[Callable[[set[str]], None]] = []

    def on_erase(self, hook: Callable[[set[str]], None]) -> None:
        """Call `hook` with the erased texts after a user's erasure is committed.

        Copies of texts outside the database (the console's translation cache) must go too, and the
        engine cannot know them: whoever keeps such copies registers here (the web service does).
        """
        self._erase_hooks.append(hook)

    def _after_erasure(self, texts: set[str]) -> None:
        """Run the erase hooks; the erasure is committed, so a failing hook must not undo the reply."""
        for hook in self._erase_hooks:
            try:
                hook(texts)
            except Exception:
                log.exception("an erase hook failed")

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
        whole = tidy(inbound.text)  # what the safety net and the dialogue see
        text = whole[:MAX_UNDERSTOOD_CHARS]  # what the NLU reads
        understand = (
            bool(text)
            and has_words(text)
            and not inbound.payload
            and not text.startswith("/")
            and inbound.kind != "group"
        )
        parse = await self.understanding.parse(text) if understand else EMPTY_PARSE
        detected = self.langid.identify(text) if understand else None
        cleaned = replace(inbound, text=whole)
        async with self.store.transaction() as tx:
            state = await tx.load(inbound.channel, inbound.user_id, moment)
            if town:
                state.town = town
            if language:
                state.language, state.language_explicit = language, True
            flooded = await self.flood.flooding(tx, state, inbound, moment)
            turn = self.dialogue.respond(state, cleaned, parse, detected, moment, flooded=flooded)
            erased: set[str] | None = None
            if turn.erase:
                erased = await tx.erase(state, moment)  # nothing of this turn is stored either
                erased.add(cleaned.text)
            else:
                if turn.export:
                    tr = Translator(self.editions.catalogs, turn.language)
                    exported = export_text(await tx.export(state), self.editions.content, tr)
                    turn.messages.append(Outbound(exported))
                stored = replace(cleaned, text=for_storage(inbound.text))  # the original text
                await tx.record(state, stored, turn, moment)
            if inbound.inbox_id is not None:
                await tx.complete(inbound, turn.messages, turn.language, moment, erased=turn.erase)
        if erased is not None:
            self._after_erasure(erased)
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
