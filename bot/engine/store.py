"""What the engine needs from storage, as a protocol (SQL lives in `bot.storage`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from bot.engine.export import StoredUser
from bot.engine.messages import Inbound, Outbound
from bot.engine.state import ConversationState, HandoverRequest


class TurnRecord(Protocol):
    intent: str | None
    confidence: float
    answer_key: str | None
    language: str
    messages: list[Outbound]
    handover_request: HandoverRequest | None
    feedback: str | None


class Transaction(Protocol):
    async def load(self, channel: str, external_id: str, now: dt.datetime) -> ConversationState: ...

    async def record(
        self, state: ConversationState, inbound: Inbound, turn: TurnRecord, now: dt.datetime
    ) -> None: ...

    async def complete(
        self,
        inbound: Inbound,
        replies: Sequence[Outbound],
        language: str,
        now: dt.datetime,
        erased: bool = False,
    ) -> None:
        """Mark the inbox row processed and queue the replies in the outbox, in this transaction.

        Being in the same transaction as `record` is what makes processing exactly-once: either the
        state, the transcript, the replies and the inbox row's status change together, or none do.
        With `erased`, the user's earlier inbox and outbox rows are wiped as well.
        """

    async def erase(self, state: ConversationState, now: dt.datetime) -> set[str]:
        """Delete the user and everything that hangs off them; return the texts that were erased.

        The texts (the user's messages, the replies, their German translations) let the caller
        purge copies kept outside the database, such as the console's translation cache.
        """

    async def export(self, state: ConversationState) -> StoredUser:
        """Everything stored about the user: conversations, messages, handovers (/mydata)."""

    async def recent_inbound(self, state: ConversationState, since: dt.datetime, at_most: int) -> int:
        """How many of the user's last `at_most` stored messages were written after `since`.

        Bounded by `at_most`, so that flood control reads a few rows however long the history is.
        """


class ConversationStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...
