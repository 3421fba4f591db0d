"""Handovers in SQL: the queue, one case with its transcript, and the writes of the console.

The caseworkers' desk (`bot.handover.desk`) decides what may happen; this module only says how it
is stored. Every change runs in one `HandoverTransaction`, which locks the handover row first, so
that two caseworkers pressing "claim" at the same moment, or a user's message arriving while the
chat is closed, are applied one after the other and never half.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.engine.messages import Button, Outbound, Template
from bot.storage.database import as_utc, reader
from bot.storage.deliveries import enqueue_one
from bot.storage.tables import (
    audit_log,
    conversations,
    handover_notes,
    handovers,
    messages,
    outbox,
    staff,
    users,
)

OPEN = ("waiting", "active")


@dataclass(frozen=True)
class Case:
    """One handover as the console lists and shows it."""

    id: int
    conversation_id: int
    reason: str
    priority: int
    team_id: str | None
    status: str  # waiting | active | closed
    channel: str
    chat_id: str  # the channel's address of the user, for the replies
    language: str
    town: str | None
    assignee_id: int | None
    assignee_name: str | None
    created_at: dt.datetime
    due_at: dt.datetime
    claimed_at: dt.datetime | None
    first_response_at: dt.datetime | None
    closed_at: dt.datetime | None
    seen_message_id: int
    unread: int  # the user's messages after the last one a caseworker saw
    last_inbound_at: dt.datetime | None
    failed_deliveries: int = 0  # messages to the user that could not be delivered since the case opened
    last_message_id: int | None = None  # where a closed case's transcript ends


@dataclass(frozen=True)
class Line:
    """One message of the transcript."""

    id: int
    direction: str  # in | out
    kind: str  # text, photo, ... for the user; "staff" for a caseworker's reply
    text: str
    german: str | None
    german_machine: bool
    author: str | None  # the caseworker who wrote it; None for the user and the bot
    buttons: tuple[str, ...]
    created_at: dt.datetime
    # For what a caseworker or Lotse's desk sent: pending, sent, delivered, read or failed.
    delivery: str | None = None
    delivery_error: str | None = None
    template: bool = False  # went out as an approved template (outside WhatsApp's window)


@dataclass(frozen=True)
class FailedDelivery:
    """A message to the user that did not arrive, with the platform's reason."""

    outbox_id: int
    text: str
    error: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class Note:
    kind: str  # note | transfer | assign
    text: str
    author: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class AuditEntry:
    username: str
    action: str
    handover_id: int | None
    detail: str | None
    created_at: dt.datetime


def _cases_query() -> Any:
    # a closed case sees nothing after its end (`last_message_id`), not even as a count
    in_case = sa.and_(
        messages.c.conversation_id == handovers.c.conversation_id,
        messages.c.direction == "in",
        messages.c.id <= sa.func.coalesce(handovers.c.last_message_id, messages.c.id),
    )
    unread = (
        sa.select(sa.func.count(messages.c.id))
        .where(in_case, messages.c.id > handovers.c.seen_message_id)
        .scalar_subquery()
    )
    last_inbound = sa.select(sa.func.max(messages.c.created_at)).where(in_case).scalar_subquery()
    failed = (
        sa.select(sa.func.count(outbox.c.id))
        .where(
            outbox.c.channel == handovers.c.channel,
            outbox.c.chat_id == users.c.external_id,
            outbox.c.status == "failed",
            outbox.c.created_at >= handovers.c.created_at,
        )
        .scalar_subquery()
    )
    return (
        sa.select(
            handovers,
            users.c.external_id.label("chat_id"),
            staff.c.display_name.label("assignee_name"),
            unread.label("unread"),
            last_inbound.label("last_inbound_at"),
            failed.label("failed_deliveries"),
        )
        .join(conversations, conversations.c.id == handovers.c.conversation_id)
        .join(users, users.c.id == conversations.c.user_id)
        .outerjoin(staff, staff.c.id == handovers.c.assignee_id)
    )


def _case(row: Any) -> Case:
    def moment(value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None else as_utc(value)

    return Case(
        id=row.id,
        conversation_id=row.conversation_id,
        reason=row.reason,
        priority=row.priority,
        team_id=row.team_id,
        status=row.status,
        channel=row.channel,
        chat_id=row.chat_id,
        language=row.language,
        town=row.town,
        assignee_id=row.assignee_id,
        assignee_name=row.assignee_name,
        created_at=as_utc(row.created_at),
        due_at=as_utc(row.due_at),
        claimed_at=moment(row.claimed_at),
        first_response_at=moment(row.first_response_at),
        closed_at=moment(row.closed_at),
        seen_message_id=row.seen_message_id,
        unread=int(row.unread or 0),
        last_inbound_at=moment(row.last_inbound_at),
        failed_deliveries=int(row.failed_deliveries or 0),
        last_message_id=row.last_message_id,
    )


class HandoverTransaction:
    """The console's writes on one connection; committed together when the block ends."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.conn = connection

    async def lock(self, case_id: int) -> Case | None:
        """The case, locked together with its conversation against a concurrent turn of the engine.

        The conversation is locked first, in the same order as the engine's turn (conversation,
        then handover), so that the two never wait for each other in a circle.
        """
        conversation_id = (
            await self.conn.execute(sa.select(handovers.c.conversation_id).where(handovers.c.id == case_id))
        ).scalar_one_or_none()
        if conversation_id is None:
            return None
        await self.conn.execute(
            sa.select(conversations.c.id).where(conversations.c.id == conversation_id).with_for_update()
        )
        row = (
            await self.conn.execute(
                _cases_query().where(handovers.c.id == case_id).with_for_update(of=handovers)
            )
        ).first()
        return None if row is None else _case(row)

    async def update(self, case: Case, **values: Any) -> None:
        await self.conn.execute(sa.update(handovers).where(handovers.c.id == case.id).values(**values))

    async def end_transcript(self, case: Case) -> None:
        """The case's transcript ends with the conversation's messages so far (see `last_message_id`)."""
        last = (
            sa.select(sa.func.coalesce(sa.func.max(messages.c.id), 0))
            .where(messages.c.conversation_id == case.conversation_id)
            .scalar_subquery()
        )
        await self.update(case, last_message_id=last)

    async def set_conversation_status(self, case: Case, status: str, now: dt.datetime) -> None:
        await self.conn.execute(
            sa.update(conversations)
            .where(conversations.c.id == case.conversation_id)
            .values(status=status, updated_at=now)
        )

    async def add_reply(
        self,
        case: Case,
        author_id: int | None,  # the caseworker; None for a notice of Lotse's
        text: str,
        german: str,
        machine: bool,
        now: dt.datetime,
        buttons: Sequence[tuple[str, str]] = (),
        template: Template | None = None,
    ) -> int:
        """A message to the user: stored in the transcript and queued for delivery together."""
        outbound = Outbound(text, tuple(Button(title, payload) for title, payload in buttons), template)
        outbox_id = await enqueue_one(self.conn, case.channel, case.chat_id, outbound, case.language, now)
        inserted = await self.conn.execute(
            sa.insert(messages).values(
                conversation_id=case.conversation_id,
                direction="out",
                text=text,
                kind="text" if author_id is None else "staff",
                buttons=[list(b) for b in buttons],
                language=case.language,
                created_at=now,
                german=german,
                german_machine=machine,
                author_id=author_id,
                outbox_id=outbox_id,
            )
        )
        return int(inserted.inserted_primary_key[0])

    async def add_note(self, case: Case, staff_id: int, kind: str, text: str, now: dt.datetime) -> None:
        await self.conn.execute(
            sa.insert(handover_notes).values(
                handover_id=case.id, staff_id=staff_id, kind=kind, text=text, created_at=now
            )
        )

    async def audit(
        self,
        staff_id: int,
        username: str,
        action: str,
        case_id: int | None,
        detail: str | None,
        now: dt.datetime,
    ) -> None:
        await self.conn.execute(
            sa.insert(audit_log).values(
                staff_id=staff_id,
                username=username,
                action=action,
                handover_id=case_id,
                detail=(detail or None) and detail[:200],
                created_at=now,
            )
        )

    async def set_german(self, translations: dict[int, str]) -> None:
        """Keep machine translations with their messages: a transcript is translated only once."""
        for message_id, german in translations.items():
            await self.conn.execute(
                sa.update(messages)
                .where(messages.c.id == message_id, messages.c.german.is_(None))
                .values(german=german, german_machine=True)
            )


class Handovers:
    """Reading the queue and the cases; writing through `transaction()`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[HandoverTransaction]:
        async with self.engine.begin() as connection:
            yield HandoverTransaction(connection)

    async def queue(
        self, teams: Collection[str] | None, closed_since: dt.datetime | None = None
    ) -> list[Case]:
        """Open cases of `teams` (all teams when None), most urgent first, then by deadline.

        With `closed_since`, the cases closed since then follow, so that a caseworker can look back.
        """
        query = _cases_query()
        status = handovers.c.status.in_(OPEN)
        if closed_since is not None:
            status = sa.or_(status, handovers.c.closed_at >= closed_since)
        query = query.where(status)
        if teams is not None:
            query = query.where(handovers.c.team_id.in_(list(teams)))
        query = query.order_by(
            (handovers.c.status == "closed").asc(), handovers.c.priority, handovers.c.due_at, handovers.c.id
        )
        async with self.reader.connect() as conn:
            return [_case(row) for row in (await conn.execute(query)).all()]

    async def get(self, case_id: int) -> Case | None:
        async with self.reader.connect() as conn:
            row = (await conn.execute(_cases_query().where(handovers.c.id == case_id))).first()
        return None if row is None else _case(row)

    async def transcript(
        self, conversation_id: int, after: int = 0, limit: int = 500, upto: int | None = None
    ) -> list[Line]:
        """The conversation's messages after `after` (and up to `upto`), oldest first (the last `limit`)."""
        query = (
            sa.select(
                messages,
                staff.c.display_name.label("author"),
                outbox.c.status.label("outbox_status"),
                outbox.c.receipt,
                outbox.c.error.label("delivery_error"),
                outbox.c.body.label("outbox_body"),
            )
            .outerjoin(staff, staff.c.id == messages.c.author_id)
            .outerjoin(outbox, outbox.c.id == messages.c.outbox_id)
            .where(
                messages.c.conversation_id == conversation_id,
                messages.c.id > after,
                messages.c.id <= upto if upto is not None else sa.true(),
            )
            .order_by(messages.c.id.desc())
            .limit(limit)
        )
        async with self.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_line(row) for row in reversed(rows)]

    async def failed_deliveries(self, case: Case, limit: int = 20) -> list[FailedDelivery]:
        """What did not reach the user since the case opened, bot answers included, newest first."""
        query = (
            sa.select(outbox.c.id, outbox.c.body, outbox.c.error, outbox.c.created_at)
            .where(
                outbox.c.channel == case.channel,
                outbox.c.chat_id == case.chat_id,
                outbox.c.status == "failed",
                outbox.c.created_at >= case.created_at,
            )
            .order_by(outbox.c.id.desc())
            .limit(limit)
        )
        async with self.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            FailedDelivery(row.id, str((row.body or {}).get("text", "")), row.error, as_utc(row.created_at))
            for row in rows
        ]

    async def notes(self, case_id: int) -> list[Note]:
        query = (
            sa.select(handover_notes, staff.c.display_name.label("author"))
            .outerjoin(staff, staff.c.id == handover_notes.c.staff_id)
            .where(handover_notes.c.handover_id == case_id)
            .order_by(handover_notes.c.id)
        )
        async with self.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Note(row.kind, row.text, row.author, as_utc(row.created_at)) for row in rows]

    async def history(self, conversation_id: int) -> list[Case]:
        """Every handover of the conversation, newest first."""
        query = (
            _cases_query()
            .where(handovers.c.conversation_id == conversation_id)
            .order_by(handovers.c.id.desc())
        )
        async with self.reader.connect() as conn:
            return [_case(row) for row in (await conn.execute(query)).all()]

    async def colleagues(self, team_id: str | None) -> list[tuple[int, str]]:
        """(id, name) of the active caseworkers of a team and of all leads, to assign a case to."""
        query = (
            sa.select(staff.c.id, staff.c.display_name, staff.c.role, staff.c.teams)
            .where(staff.c.active.is_(True), staff.c.role.in_(("caseworker", "lead")))
            .order_by(staff.c.display_name)
        )
        async with self.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            (row.id, row.display_name)
            for row in rows
            if row.role == "lead" or (team_id is not None and team_id in (row.teams or ()))
        ]

    async def audit_entries(self, case_id: int | None = None, limit: int = 200) -> list[AuditEntry]:
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if case_id is not None:
            query = query.where(audit_log.c.handover_id == case_id)
        async with self.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            AuditEntry(row.username, row.action, row.handover_id, row.detail, as_utc(row.created_at))
            for row in rows
        ]


def _line(row: Any) -> Line:
    delivery = _delivery(row)
    return Line(
        id=row.id,
        direction=row.direction,
        kind=row.kind,
        text=row.text,
        german=row.german,
        german_machine=bool(row.german_machine),
        author=row.author,
        buttons=tuple(str(b[0]) for b in (row.buttons or ())),
        created_at=as_utc(row.created_at),
        delivery=delivery,
        delivery_error=row.delivery_error if delivery == "failed" else None,
        template=bool(row.outbox_body and row.outbox_body.get("template")),
    )


def _delivery(row: Any) -> str | None:
    """One word for how far a message got: the platform's receipt when there is one."""
    if row.outbox_status is None:
        return None  # a bot answer, or the outbox row is gone
    if row.outbox_status == "failed" or row.receipt == "failed":
        return "failed"
    if row.outbox_status == "sent":
        return row.receipt if row.receipt in ("delivered", "read") else "sent"
    return "pending"
