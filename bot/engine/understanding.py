"""The engine's view of language understanding: a protocol, so Rasa stays an adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

FALLBACK_INTENT = "nlu_fallback"


@dataclass(frozen=True)
class Entity:
    entity: str
    value: str
    text: str = ""


@dataclass(frozen=True)
class Parse:
    intent: str
    confidence: float
    ranking: tuple[tuple[str, float], ...] = ()
    entities: tuple[Entity, ...] = field(default_factory=tuple)

    def entity(self, name: str) -> Entity | None:
        for entity in self.entities:
            if entity.entity == name:
                return entity
        return None


class Understanding(Protocol):
    """Anything that maps a text to an intent with entities."""

    async def parse(self, text: str) -> Parse: ...


EMPTY_PARSE = Parse(intent=FALLBACK_INTENT, confidence=0.0)
