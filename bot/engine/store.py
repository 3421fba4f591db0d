"""What the engine needs from storage, as a protocol (SQL lives in `bot.storage`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from bot.engine.messages import Inbound, Outbound
from bot.engine.state import ConversationState, HandoverRequest


class TurnRecord(Protocol):
    intent: str | None
    confidence: float
    answer_key: str | None
    language: str
    messages: list[Outbound]
    handover_request: HandoverRequest | None


class Transaction(Protocol):
    async def load(self, channel: str, external_id: str, now: dt.datetime) -> ConversationState: ...

    async def record(
        self, state: ConversationState, inbound: Inbound, turn: TurnRecord, now: dt.datetime
    ) -> None: ...

    async def erase(self, state: ConversationState) -> None:
        """Delete the user and everything that hangs off them."""

    async def export(self, state: ConversationState) -> list[tuple[str, str, dt.datetime]]:
        """(direction, text, time) of every stored message, oldest first."""


class ConversationStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...


def outbound_rows(messages: Sequence[Outbound]) -> list[dict[str, object]]:
    return [{"text": m.text, "buttons": [[b.title, b.payload] for b in m.buttons]} for m in messages]
