"""Conversations, messages and handover requests in SQL, one transaction per turn.

The inbound message, the replies and the new conversation state are written in the same
transaction: either the turn happened completely or not at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.engine.export import StoredConversation, StoredHandover, StoredMessage, StoredUser
from bot.engine.messages import Inbound, Outbound
from bot.engine.state import ConversationState, HandoverRequest
from bot.engine.store import TurnRecord
from bot.storage.database import as_utc
from bot.storage.deliveries import enqueue, erase_deliveries
from bot.storage.errors import ClaimLost
from bot.storage.tables import (
    audit_log,
    conversations,
    erased_cases,
    handover_notes,
    handovers,
    inbox,
    messages,
    users,
)


class SqlTransaction:
    def __init__(self, connection: AsyncConnection) -> None:
        self.conn = connection

    async def load(self, channel: str, external_id: str, now: dt.datetime) -> ConversationState:
        row = (
            await self.conn.execute(
                sa.select(conversations)
                .join(users, conversations.c.user_id == users.c.id)
                .where(users.c.channel == channel, users.c.external_id == external_id)
                # the console changes a conversation's status too: one writer at a time per chat
                .with_for_update(of=conversations)
            )
        ).first()
        if row is not None:
            return _state(row._mapping, is_new=False)
        return await self._create(channel, external_id, now)

    async def _create(self, channel: str, external_id: str, now: dt.datetime) -> ConversationState:
        try:
            async with self.conn.begin_nested():
                inserted = await self.conn.execute(
                    sa.insert(users).values(
                        channel=channel, external_id=external_id, created_at=now, last_seen_at=now
                    )
                )
                user_id = inserted.inserted_primary_key[0]
        except IntegrityError:  # created concurrently by another worker
            user_id = (
                await self.conn.execute(
                    sa.select(users.c.id).where(
                        users.c.channel == channel, users.c.external_id == external_id
                    )
                )
            ).scalar_one()
        existing = (
            await self.conn.execute(sa.select(conversations).where(conversations.c.user_id == user_id))
        ).first()
        if existing is not None:
            return _state(existing._mapping, is_new=False)
        inserted = await self.conn.execute(
            sa.insert(conversations).values(
                user_id=user_id, status="bot", slots={}, misses=0, created_at=now, updated_at=now
            )
        )
        conversation_id = inserted.inserted_primary_key[0]
        return ConversationState(conversation_id=conversation_id, user_id=user_id, is_new=True)

    async def record(
        self, state: ConversationState, inbound: Inbound, turn: TurnRecord, now: dt.datetime
    ) -> None:
        rows: list[dict[str, Any]] = [
            {
                "conversation_id": state.conversation_id,
                "direction": "in",
                "text": inbound.text or "",
                "kind": inbound.kind,
                # no payload of Lotse's is this long; a forged one must not fail PostgreSQL's varchar(128)
                "payload": inbound.payload[:128] if inbound.payload else None,
                "buttons": None,
                "intent": turn.intent,
                "confidence": turn.confidence,
                "language": turn.language,
                "answer_key": None,
                # when the user wrote it (WhatsApp's reply window counts from then), never in our future
                "created_at": min(inbound.sent_at, now) if inbound.sent_at is not None else now,
            }
        ]
        rows += [
            {
                "conversation_id": state.conversation_id,
                "direction": "out",
                "text": m.text,
                "kind": "text",
                "payload": None,
                "buttons": [[b.title, b.payload] for b in m.buttons],
                "intent": turn.intent,
                "confidence": None,
                "language": turn.language,
                "answer_key": turn.answer_key,
                "created_at": now,
            }
            for m in turn.messages
        ]
        await self.conn.execute(sa.insert(messages), rows)
        await self.conn.execute(
            sa.update(conversations)
            .where(conversations.c.id == state.conversation_id)
            .values(
                status=state.status,
                language=state.language,
                language_explicit=state.language_explicit,
                town=state.town,
                slots=dict(state.slots),
                misses=state.misses,
                updated_at=now,
            )
        )
        await self.conn.execute(
            sa.update(users)
            .where(users.c.id == state.user_id)
            .values(language=state.language, last_seen_at=now)
        )
        if turn.handover_request is not None:
            await self._queue_handover(state, inbound, turn.handover_request, now)
        if turn.feedback is not None:
            await self._store_feedback(state, turn.feedback)

    async def _queue_handover(
        self, state: ConversationState, inbound: Inbound, request: HandoverRequest, now: dt.datetime
    ) -> None:
        """Open a handover, or make the open one more urgent: a chat is in the queue once."""
        open_one = (
            await self.conn.execute(
                sa.select(handovers.c.id, handovers.c.priority, handovers.c.due_at).where(
                    handovers.c.conversation_id == state.conversation_id, handovers.c.status != "closed"
                )
            )
        ).first()
        if open_one is None:
            await self.conn.execute(
                sa.insert(handovers).values(
                    conversation_id=state.conversation_id,
                    reason=request.reason,
                    priority=request.priority,
                    team_id=request.team_id,
                    status="waiting",
                    channel=inbound.channel,
                    language=state.language or "de",
                    town=state.town,
                    created_at=now.astimezone(dt.timezone.utc),
                    due_at=request.due_at,
                )
            )
        elif request.priority < open_one.priority:
            await self.conn.execute(
                sa.update(handovers)
                .where(handovers.c.id == open_one.id)
                .values(
                    reason=request.reason,
                    priority=request.priority,
                    due_at=min(as_utc(open_one.due_at), request.due_at),
                )
            )

    async def _store_feedback(self, state: ConversationState, feedback: str) -> None:
        """Attach "did it help?" to the handover closed last, once."""
        latest = (
            sa.select(handovers.c.id)
            .where(handovers.c.conversation_id == state.conversation_id, handovers.c.status == "closed")
            .order_by(handovers.c.closed_at.desc())
            .limit(1)
            .scalar_subquery()
        )
        await self.conn.execute(
            sa.update(handovers)
            .where(handovers.c.id == latest, handovers.c.feedback.is_(None))
            .values(feedback=feedback)
        )

    async def complete(
        self,
        inbound: Inbound,
        replies: Sequence[Outbound],
        language: str,
        now: dt.datetime,
        erased: bool = False,
    ) -> None:
        channel, chat = inbound.channel, inbound.user_id
        if erased:
            await erase_deliveries(self.conn, channel, chat, up_to=inbound.inbox_id)
        finished = await self.conn.execute(
            sa.update(inbox)
            .where(
                inbox.c.id == inbound.inbox_id,
                inbox.c.claim == inbound.inbox_claim,
                inbox.c.status == "processing",
            )
            .values(status="done", done_at=now, lease_until=None)
        )
        if finished.rowcount != 1:  # the lease ran out and another worker took the message over
            raise ClaimLost(f"inbox row {inbound.inbox_id} is no longer ours")
        if replies:
            await enqueue(self.conn, channel, chat, replies, language, now, forget=erased)

    async def erase(self, state: ConversationState, now: dt.datetime) -> set[str]:
        """Delete the user with their conversations, messages, handovers and notes.

        Handovers are deleted here, not by cascade (a closed one outlives its conversation under
        retention, see `bot.storage.tables`). Each leaves a line in `erased_cases` and in the audit
        log, so that caseworkers see the case was erased rather than lost; neither keeps anything
        about the person. Inbox and outbox rows go in `complete`, which knows the inbox row.
        """
        mine = sa.select(conversations.c.id).where(conversations.c.user_id == state.user_id)
        texts: set[str] = set()
        for row in await self.conn.execute(
            sa.select(messages.c.text, messages.c.german).where(messages.c.conversation_id.in_(mine))
        ):
            texts.update(t for t in (row.text, row.german) if t)
        cases = (
            await self.conn.execute(sa.select(handovers).where(handovers.c.conversation_id.in_(mine)))
        ).all()
        for case in cases:
            texts.update(
                (
                    await self.conn.execute(
                        sa.select(handover_notes.c.text).where(handover_notes.c.handover_id == case.id)
                    )
                ).scalars()
            )
        if cases:
            await self.conn.execute(
                sa.insert(erased_cases),
                [
                    {
                        "id": case.id,
                        "team_id": case.team_id,
                        "status": case.status,
                        "assignee_id": case.assignee_id,
                        "opened_at": case.created_at,
                        "erased_at": now,
                    }
                    for case in cases
                ],
            )
            await self.conn.execute(
                sa.insert(audit_log),
                [
                    {
                        "staff_id": None,
                        "username": "-",
                        "action": "erased",
                        "handover_id": case.id,
                        "detail": "vom Nutzer gelöscht (/delete)",
                        "created_at": now,
                    }
                    for case in cases
                ],
            )
            await self.conn.execute(sa.delete(handovers).where(handovers.c.id.in_([c.id for c in cases])))
        await self.conn.execute(sa.delete(users).where(users.c.id == state.user_id))
        return texts

    async def export(self, state: ConversationState) -> StoredUser:
        user = (await self.conn.execute(sa.select(users).where(users.c.id == state.user_id))).one()
        stored = []
        for conversation in (
            await self.conn.execute(
                sa.select(conversations)
                .where(conversations.c.user_id == state.user_id)
                .order_by(conversations.c.id)
            )
        ).all():
            lines = await self.conn.execute(
                sa.select(messages.c.direction, messages.c.kind, messages.c.text, messages.c.created_at)
                .where(messages.c.conversation_id == conversation.id)
                .order_by(messages.c.id)
            )
            cases = await self.conn.execute(
                sa.select(handovers)
                .where(handovers.c.conversation_id == conversation.id)
                .order_by(handovers.c.id)
            )
            current = conversation.id == state.conversation_id  # its state of this turn is not stored yet
            stored.append(
                StoredConversation(
                    language=state.language if current else conversation.language,
                    town=state.town if current else conversation.town,
                    created_at=as_utc(conversation.created_at),
                    messages=[
                        StoredMessage(m.direction, m.kind, m.text, as_utc(m.created_at)) for m in lines
                    ],
                    handovers=[
                        StoredHandover(
                            c.team_id,
                            c.reason,
                            c.status,
                            as_utc(c.created_at),
                            None if c.closed_at is None else as_utc(c.closed_at),
                        )
                        for c in cases
                    ],
                )
            )
        return StoredUser(
            channel=user.channel,
            language=state.language,
            created_at=as_utc(user.created_at),
            last_seen_at=as_utc(user.last_seen_at),
            conversations=stored,
        )

    async def recent_inbound(self, state: ConversationState, since: dt.datetime, at_most: int) -> int:
        # The last `at_most` inbound rows by the (conversation_id, id) index, then those in the window.
        last = (
            sa.select(messages.c.created_at)
            .where(messages.c.conversation_id == state.conversation_id, messages.c.direction == "in")
            .order_by(messages.c.id.desc())
            .limit(at_most)
            .subquery()
        )
        count = await self.conn.execute(
            sa.select(sa.func.count()).select_from(last).where(last.c.created_at > since)
        )
        return int(count.scalar_one())


class SqlConversationStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlTransaction]:
        async with self.engine.begin() as connection:
            yield SqlTransaction(connection)


def _state(row: Any, is_new: bool) -> ConversationState:
    return ConversationState(
        conversation_id=row["id"],
        user_id=row["user_id"],
        status=row["status"],
        language=row["language"],
        language_explicit=bool(row["language_explicit"]),
        town=row["town"],
        slots=dict(row["slots"] or {}),
        misses=row["misses"],
        is_new=is_new,
    )
