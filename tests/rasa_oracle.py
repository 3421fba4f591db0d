"""Rasa's own parse of the model, as the oracle that Lotse's inference (`bot.understanding.linear`) must equal.

This is the adapter Lotse served with until it read the model archive itself: `Agent.load` imports
TensorFlow and takes seconds, so tests load it once per module. Only tests and benchmarks use it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from bot.engine.understanding import EMPTY_PARSE, FALLBACK_INTENT, Entity, Parse
from bot.understanding.errors import UnderstandingError


class RasaUnderstanding:
    """Adapter from Rasa's parse result to the engine's `Parse`."""

    def __init__(self, agent: Any) -> None:
        self._agent = agent

    @classmethod
    def load(cls, model_path: Path) -> RasaUnderstanding:
        if not model_path.exists():
            raise UnderstandingError(f"no NLU model at {model_path}; run 'lotse train' first")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        from rasa.core.agent import Agent

        agent = Agent.load(str(model_path))
        _silence_structlog()
        return cls(agent)

    async def parse(self, text: str) -> Parse:
        if not text.strip():
            return EMPTY_PARSE
        return to_parse(await self.parse_raw(text))

    async def parse_raw(self, text: str) -> dict[str, Any]:
        """Rasa's whole result, for the details `Parse` leaves out."""
        result: dict[str, Any] = await self._agent.parse_message(text)
        return result


def to_parse(result: dict[str, Any]) -> Parse:
    intent = result.get("intent") or {}
    ranking = tuple(
        (str(item.get("name")), float(item.get("confidence") or 0.0))
        for item in result.get("intent_ranking") or []
        if item.get("name") != FALLBACK_INTENT
    )
    name = str(intent.get("name") or FALLBACK_INTENT)
    confidence = float(intent.get("confidence") or 0.0)
    if name == FALLBACK_INTENT and ranking:
        confidence = ranking[0][1]
    entities = tuple(
        Entity(
            str(e.get("entity")),
            str(e.get("value")),
            str(
                e.get("value")
                if e.get("start") is None
                else result.get("text", "")[e.get("start", 0) : e.get("end", 0)]
            ),
        )
        for e in result.get("entities") or []
    )
    return Parse(intent=name, confidence=confidence, ranking=ranking, entities=entities)


def _silence_structlog() -> None:
    """Rasa logs every parse, with the user's text, through structlog to stdout at DEBUG."""
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
