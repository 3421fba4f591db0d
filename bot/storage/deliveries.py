"""Inbox and outbox rows: the durable ends of the message pipeline.

Every claim is a lease (`lease_until`) rather than a lock held in memory, so that rows claimed by a
process that died are taken up again once the lease runs out, by the same process after a restart
or by another worker. On PostgreSQL the claiming SELECT uses `FOR UPDATE SKIP LOCKED`, so two
workers never claim the same row; on SQLite (one process) the clause is simply not rendered.

Per-chat order is a property of the claim queries: a row is claimable only when no earlier row of
the same chat is still pending or in progress.

Each claim writes a fresh token (`claim`) that works as a fencing token: finishing a row checks it,
so a worker whose lease ran out while it was still busy cannot finish a row another worker has
taken over (its transaction is rolled back instead of answering twice).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.engine.messages import Button, Inbound, Outbound, Template
from bot.storage.database import reader
from bot.storage.dedup import dedup_key
from bot.storage.errors import ClaimLost
from bot.storage.tables import early_receipts, inbox, inbox_salt, outbox

ACTIVE_IN = ("pending", "processing")
ACTIVE_OUT = ("pending", "sending")
# Receipts only move forward (a late "delivered" never overwrites "read"); a failure overrides all.
RECEIPT_ORDER = {"sent": 0, "delivered": 1, "read": 2, "failed": 3}
EARLY_RECEIPTS_KEPT = dt.timedelta(days=1)  # a receipt for a message Lotse never stored is dropped then


@dataclass(frozen=True)
class InboxItem:
    inbound: Inbound  # carries the row's id and the claim it is processed under
    meta: dict[str, Any]
    attempts: int

    @property
    def id(self) -> int:
        assert self.inbound.inbox_id is not None
        return self.inbound.inbox_id

    @property
    def claim(self) -> str | None:
        return self.inbound.inbox_claim


@dataclass(frozen=True)
class OutboxItem:
    id: int
    channel: str
    chat_id: str
    message: Outbound
    language: str
    attempts: int
    parts_sent: int
    claim: str = ""
    forget: bool = False  # delete the row once delivered (the confirmation of an erasure)


@dataclass(frozen=True)
class Accepted:
    inbox_id: int
    duplicate: bool
    claimed: InboxItem | None = None  # leased to the caller at once (see `Deliveries.accept`)
    answered: bool = False  # and answered by it (`Pipeline.accept` with `answer_now`)


def outbound_body(message: Outbound, language: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "text": message.text,
        "buttons": [[b.title, b.payload] for b in message.buttons],
        "language": language,
    }
    if message.template is not None:
        template = message.template
        body["template"] = {
            "name": template.name,
            "language": template.language,
            "parameters": list(template.parameters),
        }
    return body


def inbound_body(inbound: Inbound, meta: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"user_id": inbound.user_id, "kind": inbound.kind}
    for name in ("text", "payload", "message_id", "language_hint"):
        value = getattr(inbound, name)
        if value:
            body[name] = value
    if inbound.sent_at is not None:
        body["sent_at"] = inbound.sent_at.isoformat()
    if meta:
        body["meta"] = meta
    return body


ERASED_CHAT = "-"  # the chat id of inbox rows whose user erased their data
FORGET = "forget"  # outbox body flag: delete the row once it is delivered (see `erase_deliveries`)


async def erase_deliveries(
    conn: AsyncConnection, channel: str, chat_id: str, up_to: int | None = None
) -> None:
    """Forget what a user sent and was sent, in the caller's transaction.

    Inbox rows stay as shells for deduplication: their key is a salted hash already (see
    `bot.storage.dedup`), and the chat id, body and error go. Only rows up to `up_to` (the message
    that asked for the erasure) are touched, or with None those no longer pending: a message the user
    sent after asking is a new conversation and must still be answered. Outbox rows are deleted,
    also those not yet delivered; the confirmation of the erasure is queued after this, marked
    `FORGET`, so the sender deletes it too once it is delivered.
    """
    mine = sa.and_(inbox.c.channel == channel, inbox.c.chat_id == chat_id)
    done = inbox.c.id <= up_to if up_to is not None else inbox.c.status.notin_(ACTIVE_IN)
    await conn.execute(
        sa.update(inbox).where(mine, done).values(chat_id=ERASED_CHAT, body={"kind": "erased"}, error=None)
    )
    await conn.execute(sa.delete(outbox).where(outbox.c.channel == channel, outbox.c.chat_id == chat_id))


async def enqueue(
    conn: AsyncConnection,
    channel: str,
    chat_id: str,
    messages: Sequence[Outbound],
    language: str,
    now: dt.datetime,
    forget: bool = False,
) -> None:
    """Queue replies in the caller's transaction, so they are sent exactly when it commits.

    With `forget`, each row is deleted as soon as it is delivered (see `erase_deliveries`).
    """
    rows = [_outbox_row(channel, chat_id, m, language, now) for m in messages]
    if forget:
        for row in rows:
            row["body"][FORGET] = True
    await conn.execute(sa.insert(outbox), rows)


async def enqueue_one(
    conn: AsyncConnection, channel: str, chat_id: str, message: Outbound, language: str, now: dt.datetime
) -> int:
    """Queue one message and return its outbox id, so that the transcript can follow its delivery."""
    inserted = await conn.execute(
        sa.insert(outbox).values(**_outbox_row(channel, chat_id, message, language, now))
    )
    return int(inserted.inserted_primary_key[0])


def _outbox_row(
    channel: str, chat_id: str, message: Outbound, language: str, now: dt.datetime
) -> dict[str, Any]:
    return {
        "channel": channel,
        "chat_id": chat_id,
        "body": outbound_body(message, language),
        "status": "pending",
        "next_attempt_at": now,
        "created_at": now,
    }


class Deliveries:
    """Inbox and outbox operations; each method is one short transaction."""

    def __init__(self, engine: AsyncEngine, lease: float = 30.0) -> None:
        self.engine = engine
        self.reader = reader(engine)
        self.lease = dt.timedelta(seconds=lease)
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        self._salt: str | None = None

    async def _dedup_key(self, conn: AsyncConnection, channel: str, external_id: str) -> str:
        if self._salt is None:
            self._salt = str((await conn.execute(sa.select(inbox_salt.c.salt))).scalar_one())
        return dedup_key(self._salt, channel, external_id)

    async def release_leases(self) -> None:
        """End the leases of a previous run at once; only right when no other process shares the database.

        That is always so on SQLite (one process). On PostgreSQL other workers may hold leases, so
        rows of a crashed worker are taken up when its leases run out.
        """
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(inbox)
                .where(inbox.c.status == "processing")
                .values(status="pending", lease_until=None)
            )
            await conn.execute(
                sa.update(outbox)
                .where(outbox.c.status == "sending")
                .values(status="pending", lease_until=None)
            )

    # ------------------------------------------------------------------ inbox
    async def accept(
        self,
        inbound: Inbound,
        external_id: str,
        now: dt.datetime,
        meta: dict[str, Any] | None = None,
        claim: bool = False,
    ) -> Accepted:
        """Store one inbound message unless (channel, external_id) is already there.

        Only a salted hash of `external_id` is stored (see `bot.storage.dedup`). With `claim`, the
        new row is stored already leased to the caller, who answers it now, unless an earlier
        message of the chat is still open (then it waits its turn in the inbox, as any other):
        one transaction instead of a claim by the worker after the accept.
        """
        async with self.engine.begin() as conn:
            external_id = await self._dedup_key(conn, inbound.channel, external_id)
            values: dict[str, Any] = {"status": "pending"}
            token = uuid.uuid4().hex if claim and await _chat_is_free(conn, inbound) else None
            if token is not None:
                values = {"status": "processing", "lease_until": now + self.lease, "attempts": 1, "claim": token}
            statement = (
                self._insert(inbox)
                .values(
                    channel=inbound.channel,
                    external_id=external_id,
                    chat_id=inbound.user_id,
                    body=inbound_body(inbound, meta or {}),
                    created_at=now,
                    **values,
                )
                .on_conflict_do_nothing(index_elements=["channel", "external_id"])
            )
            result = await conn.execute(statement)
            if result.rowcount == 1:
                inbox_id = int(result.inserted_primary_key[0])
                claimed = None
                if token is not None:
                    leased = replace(inbound, inbox_id=inbox_id, inbox_claim=token)
                    claimed = InboxItem(leased, dict(meta or {}), attempts=1)
                return Accepted(inbox_id, duplicate=False, claimed=claimed)
            existing = await conn.execute(
                sa.select(inbox.c.id).where(
                    inbox.c.channel == inbound.channel, inbox.c.external_id == external_id
                )
            )
            return Accepted(int(existing.scalar_one()), duplicate=True)

    async def claim_inbox(self, limit: int, now: dt.datetime, busy: Sequence[int] = ()) -> list[InboxItem]:
        """Lease up to `limit` rows, at most one per chat, oldest first; `busy` rows are ours already."""
        query = (
            sa.select(inbox)
            .where(
                inbox.c.status.in_(ACTIVE_IN),
                sa.or_(inbox.c.lease_until.is_(None), inbox.c.lease_until < now),
                inbox.c.id.notin_(busy),
                FIRST_OF_ITS_CHAT_IN,
            )
            .order_by(inbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        async with self.engine.begin() as conn:
            rows = (await conn.execute(query)).all()
            if not rows:
                return []
            token = await _lease(conn, inbox, [r.id for r in rows], "processing", now + self.lease)
        return [_inbox_item(r, token) for r in rows]

    async def retry_inbox(self, item: InboxItem, error: str, not_before: dt.datetime) -> None:
        """Put a row back for a later attempt, unless its turn did commit after all.

        A connection lost during COMMIT raises although the commit may have gone through (the turn
        is done, its replies queued); only a row still `processing` under our claim is put back.
        """
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(inbox)
                .where(inbox.c.id == item.id, inbox.c.claim == item.claim, inbox.c.status == "processing")
                .values(status="pending", lease_until=not_before, error=error[:200])
            )

    async def fail_inbox(
        self, item: InboxItem, error: str, now: dt.datetime, notice: Outbound | None, language: str
    ) -> None:
        """Give up on a message that keeps failing, so that it no longer holds up its chat."""
        async with self.engine.begin() as conn:
            failed = await conn.execute(
                sa.update(inbox)
                .where(inbox.c.id == item.id, inbox.c.claim == item.claim, inbox.c.status == "processing")
                .values(status="failed", lease_until=None, error=error[:200], done_at=now)
            )
            if failed.rowcount != 1:
                raise ClaimLost(f"inbox row {item.id} is no longer ours")
            if notice is not None:
                await enqueue(conn, item.inbound.channel, item.inbound.user_id, [notice], language, now)

    async def pending_counts(self) -> dict[str, int]:
        async with self.reader.connect() as conn:
            inbound = await conn.execute(
                sa.select(sa.func.count()).select_from(inbox).where(inbox.c.status.in_(ACTIVE_IN))
            )
            outbound = await conn.execute(
                sa.select(sa.func.count()).select_from(outbox).where(outbox.c.status.in_(ACTIVE_OUT))
            )
            return {"inbox": int(inbound.scalar_one()), "outbox": int(outbound.scalar_one())}

    # ------------------------------------------------------------------ outbox
    async def claim_outbox(
        self,
        channel: str,
        now: dt.datetime,
        limit: int,
        ready: Callable[[str], bool] | None = None,
        busy: Sequence[int] = (),
    ) -> list[OutboxItem]:
        """Lease the next message of up to `limit` chats; `ready(chat_id)` may hold a chat back."""
        due = sa.or_(
            sa.and_(outbox.c.status == "pending", outbox.c.next_attempt_at <= now),
            sa.and_(outbox.c.status == "sending", outbox.c.lease_until < now),
        )
        query = (
            sa.select(outbox)
            .where(
                outbox.c.status.in_(ACTIVE_OUT),
                outbox.c.channel == channel,
                due,
                outbox.c.id.notin_(busy),
                FIRST_OF_ITS_CHAT_OUT,
            )
            .order_by(outbox.c.id)
            .limit(limit * 4 if ready else limit)
            .with_for_update(skip_locked=True)
        )
        async with self.engine.begin() as conn:
            rows = (await conn.execute(query)).all()
            if ready is not None:
                rows = [r for r in rows if ready(r.chat_id)]
            rows = rows[:limit]
            if not rows:
                return []
            token = await _lease(conn, outbox, [r.id for r in rows], "sending", now + self.lease)
        return [_outbox_item(r, token) for r in rows]

    async def progress(self, item: OutboxItem, parts_sent: int) -> None:
        """Remember how many parts of a long message went out, so a retry sends only the rest."""
        await self._update_outbox(item, parts_sent=parts_sent)

    async def sent(self, item: OutboxItem, now: dt.datetime, external_id: str | None = None) -> None:
        """Done; `external_id` is the platform's id of the last part, which its receipts name.

        A receipt for that id may have arrived already (see `record_receipt`): it is applied now.
        """
        async with self.engine.begin() as conn:
            if item.forget:  # the user erased their data: nothing of the chat stays once this arrived
                await conn.execute(
                    sa.delete(outbox).where(outbox.c.id == item.id, outbox.c.claim == item.claim)
                )
                return
            await conn.execute(
                sa.update(outbox)
                .where(outbox.c.id == item.id, outbox.c.claim == item.claim)
                .values(status="sent", sent_at=now, lease_until=None, error=None, external_id=external_id)
            )
            if external_id is None:
                return
            early = early_receipts.c.channel == item.channel, early_receipts.c.external_id == external_id
            waiting = (await conn.execute(sa.select(early_receipts).where(*early))).all()
            if waiting:
                await conn.execute(sa.delete(early_receipts).where(*early))
                for receipt in sorted(waiting, key=lambda r: RECEIPT_ORDER.get(r.status, -1)):
                    await _apply_receipt(conn, item.channel, external_id, receipt.status, receipt.error)

    async def record_receipt(
        self, channel: str, external_id: str, status: str, error: str | None, now: dt.datetime
    ) -> bool:
        """A platform's status report on a sent message; False when no sent row has that id yet.

        A failure reported after sending (WhatsApp reports most of them this way) turns the row
        into a failed delivery, which the console shows beside the message. A receipt can overtake
        the sender's own record of the id; it then waits in `early_receipts` for `sent`.
        """
        if status not in RECEIPT_ORDER:
            return False
        async with self.engine.begin() as conn:
            if await _apply_receipt(conn, channel, external_id, status, error):
                return True
            await conn.execute(
                sa.delete(early_receipts).where(early_receipts.c.created_at < now - EARLY_RECEIPTS_KEPT)
            )
            await conn.execute(
                sa.insert(early_receipts).values(
                    channel=channel,
                    external_id=external_id,
                    status=status,
                    error=error and error[:200],
                    created_at=now,
                )
            )
            return False

    async def retry_outbox(
        self, item: OutboxItem, error: str, not_before: dt.datetime, counted: bool = True
    ) -> None:
        """Try again later; an attempt that was not `counted` does not bring giving up closer."""
        attempts = {} if counted else {"attempts": item.attempts - 1}
        await self._update_outbox(
            item, status="pending", next_attempt_at=not_before, lease_until=None, error=error[:200], **attempts
        )

    async def fail_outbox(self, item: OutboxItem, error: str) -> None:
        await self._update_outbox(item, status="failed", lease_until=None, error=error[:200])

    async def _update_outbox(self, item: OutboxItem, **values: Any) -> None:
        """Change a row only while our lease on it holds (see the module's note on fencing)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(outbox).where(outbox.c.id == item.id, outbox.c.claim == item.claim).values(**values)
            )

    async def fetch(
        self, channel: str, chat_id: str, after: int, now: dt.datetime, limit: int = 50
    ) -> list[OutboxItem]:
        """For channels the client pulls from (web chat): messages after `after`, marked delivered."""
        async with self.reader.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(outbox)
                    .where(outbox.c.channel == channel, outbox.c.chat_id == chat_id, outbox.c.id > after)
                    .order_by(outbox.c.id)
                    .limit(limit)
                )
            ).all()
        items = [_outbox_item(r) for r in rows]
        fresh = [r.id for r in rows if r.status != "sent"]
        forgotten = [item.id for item in items if item.forget]
        if fresh or forgotten:
            async with self.engine.begin() as conn:
                if forgotten:
                    await conn.execute(sa.delete(outbox).where(outbox.c.id.in_(forgotten)))
                await conn.execute(
                    sa.update(outbox).where(outbox.c.id.in_(fresh)).values(status="sent", sent_at=now)
                )
        return items

    async def inbox_done(self, inbox_id: int) -> bool:
        async with self.reader.connect() as conn:
            status = (
                await conn.execute(sa.select(inbox.c.status).where(inbox.c.id == inbox_id))
            ).scalar_one_or_none()
        return status in {"done", "failed"}


async def _apply_receipt(
    conn: AsyncConnection, channel: str, external_id: str, status: str, error: str | None
) -> bool:
    """Move a sent row's receipt forward (a late "delivered" never undoes "read" or "failed")."""
    row = (
        await conn.execute(
            sa.select(outbox.c.id, outbox.c.receipt)
            .where(outbox.c.channel == channel, outbox.c.external_id == external_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        return False
    if row.receipt is None or RECEIPT_ORDER.get(row.receipt, -1) < RECEIPT_ORDER[status]:
        values: dict[str, Any] = {"receipt": status}
        if status == "failed":
            values.update(status="failed", error=(error or "failed")[:200])
        await conn.execute(sa.update(outbox).where(outbox.c.id == row.id).values(**values))
    return True


def _first_of_its_chat(table: sa.Table, active: tuple[str, ...]) -> Any:
    """No earlier row of the same chat is still waiting or in progress: the per-chat order."""
    earlier = table.alias("earlier")
    return ~(
        sa.exists()
        .where(
            earlier.c.channel == table.c.channel,
            earlier.c.chat_id == table.c.chat_id,
            earlier.c.id < table.c.id,
            earlier.c.status.in_(active),
        )
        .correlate(table)
    )


# Built once: an alias builds a proxy of every column of its table, which took ~1 ms of CPU per
# claim, and the worker claims at least once per message.
FIRST_OF_ITS_CHAT_IN = _first_of_its_chat(inbox, ACTIVE_IN)
FIRST_OF_ITS_CHAT_OUT = _first_of_its_chat(outbox, ACTIVE_OUT)


async def _chat_is_free(conn: AsyncConnection, inbound: Inbound) -> bool:
    """No message of this chat is waiting or being answered (the per-chat order of `claim_inbox`).

    On PostgreSQL two requests of one chat could both find it free; a transaction lock on the chat
    makes the second look after the first has committed its row.
    """
    if conn.dialect.name == "postgresql":
        key = sa.func.hashtext(f"{inbound.channel}:{inbound.user_id}")
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
    open_row = await conn.execute(
        sa.select(inbox.c.id)
        .where(
            inbox.c.channel == inbound.channel,
            inbox.c.chat_id == inbound.user_id,
            inbox.c.status.in_(ACTIVE_IN),
        )
        .limit(1)
    )
    return open_row.first() is None


async def _lease(
    conn: AsyncConnection, table: sa.Table, ids: list[int], status: str, until: dt.datetime
) -> str:
    """Take rows under a new lease; the returned token fences every later change to them."""
    token = uuid.uuid4().hex
    await conn.execute(
        sa.update(table)
        .where(table.c.id.in_(ids))
        .values(status=status, lease_until=until, attempts=table.c.attempts + 1, claim=token)
    )
    return token


def _inbox_item(row: Any, claim: str) -> InboxItem:
    body = dict(row.body)
    inbound = Inbound(
        channel=row.channel,
        user_id=row.chat_id,
        text=body.get("text", ""),
        payload=body.get("payload"),
        message_id=body.get("message_id"),
        language_hint=body.get("language_hint"),
        kind=body.get("kind", "text"),
        inbox_id=row.id,
        inbox_claim=claim,
        sent_at=_moment(body.get("sent_at")),
    )
    return InboxItem(inbound, dict(body.get("meta") or {}), row.attempts + 1)


def outbox_message(body: dict[str, Any]) -> Outbound:
    """The message an outbox row's body holds."""
    template = body.get("template")
    return Outbound(
        body.get("text", ""),
        tuple(Button(t, p) for t, p in body.get("buttons") or []),
        Template(template["name"], template["language"], tuple(template.get("parameters") or ()))
        if template
        else None,
    )


def _outbox_item(row: Any, claim: str = "") -> OutboxItem:
    body = dict(row.body)
    message = outbox_message(body)
    return OutboxItem(
        id=row.id,
        channel=row.channel,
        chat_id=row.chat_id,
        message=message,
        language=body.get("language", "de"),
        attempts=row.attempts + 1,
        parts_sent=row.parts_sent,
        claim=claim,
        forget=bool(body.get(FORGET)),
    )


def _moment(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None
