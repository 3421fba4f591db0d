"""The retention job: personal data is deleted when its purpose is over (docs/privacy.md).

- A user whose conversation has had no activity for RETENTION_DAYS (no message, no state change)
  is deleted with the conversation and its messages, unless a handover of it is still open: a
  person is working on it. Their closed handovers are kept as records without text (the notes
  are deleted, the link to the conversation is cut) for the district's figures.
- Closed handovers, the audit log and the console's "erased" markers go after
  HANDOVER_RETENTION_DAYS.
- Processed inbox rows and delivered (or failed) outbox rows go after
  LOTSE_PIPELINE_RETENTION_HOURS: they only serve deduplication (WhatsApp redelivers for up to
  seven days, Telegram for a day) and the console's delivery marks.
- Early delivery receipts after a day, and staff sessions once they have expired.

Each batch is its own short transaction, so the job never holds the conversations of many users
at once. Several `lotse serve` workers on one PostgreSQL database may all run it: a session-level
advisory lock lets one do the work while the others skip that round. Every condition is checked
again inside the transaction that deletes, with the conversations locked in the same order as a
turn locks them, so a user who writes while the job runs keeps their conversation.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.config import Settings
from bot.storage.deliveries import ACTIVE_IN, ACTIVE_OUT, EARLY_RECEIPTS_KEPT, erase_deliveries
from bot.storage.tables import (
    audit_log,
    conversations,
    early_receipts,
    erased_cases,
    handover_notes,
    handovers,
    inbox,
    messages,
    outbox,
    staff_sessions,
    users,
)

log = logging.getLogger(__name__)
OPEN = ("waiting", "active")
ADVISORY_LOCK = 0x4C6F7473  # "Lots": one retention run at a time per PostgreSQL database


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class RetentionPolicy:
    conversations: dt.timedelta
    handovers: dt.timedelta
    pipeline: dt.timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            conversations=dt.timedelta(days=settings.retention_days),
            handovers=dt.timedelta(days=settings.handover_retention_days),
            pipeline=dt.timedelta(hours=settings.pipeline_retention_hours),
        )


@dataclass
class RetentionReport:
    """How many rows a run deleted (or, in a dry run, would delete)."""

    users: int = 0
    conversations: int = 0
    messages: int = 0
    notes: int = 0
    handovers_kept_without_text: int = 0
    handovers: int = 0
    audit_entries: int = 0
    erased_cases: int = 0
    inbox: int = 0
    outbox: int = 0
    early_receipts: int = 0
    sessions: int = 0
    skipped: bool = False  # another worker held the lock

    def counts(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "skipped"}


class Retention:
    def __init__(
        self,
        engine: AsyncEngine,
        policy: RetentionPolicy,
        clock: Callable[[], dt.datetime] = _utcnow,
        batch: int = 200,
    ) -> None:
        self.engine = engine
        self.policy = policy
        self.clock = clock
        self.batch = batch

    async def run(self, dry_run: bool = False) -> RetentionReport:
        """One pass over everything; with `dry_run`, count what would go and change nothing."""
        report = RetentionReport()
        now = self.clock().astimezone(dt.timezone.utc)
        async with self.engine.connect() as conn:
            if not await self._lock(conn):
                report.skipped = True
                return report
            try:
                if dry_run:
                    await self._count(conn, now, report)
                else:
                    await self._purge_users(conn, now, report)
                    await self._purge_records(conn, now, report)
            finally:
                await self._unlock(conn)
        return report

    async def run_periodically(self, interval: float) -> None:
        """For `lotse serve`: a run every `interval` seconds (the first within a minute of the start,
        leaving the start itself to the channels); a failed run is logged and tried again.
        """
        await asyncio.sleep(min(interval, 60.0))
        while True:
            try:
                report = await self.run()
                if any(report.counts().values()):
                    log.info("retention: %s", ", ".join(f"{k} {v}" for k, v in report.counts().items() if v))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the retention job failed; it runs again in %.0f s", interval)
            await asyncio.sleep(interval)

    # ------------------------------------------------------------------ conditions
    def _stale_users(self, now: dt.datetime) -> Any:
        """Users none of whose conversations had activity since the cutoff or has an open handover."""
        cutoff = now - self.policy.conversations
        recent_message = (
            sa.select(messages.c.id)
            .where(messages.c.conversation_id == conversations.c.id, messages.c.created_at >= cutoff)
            .exists()
        )
        open_handover = (
            sa.select(handovers.c.id)
            .where(handovers.c.conversation_id == conversations.c.id, handovers.c.status.in_(OPEN))
            .exists()
        )
        alive = (
            sa.select(conversations.c.id)
            .where(
                conversations.c.user_id == users.c.id,
                sa.or_(conversations.c.updated_at >= cutoff, recent_message, open_handover),
            )
            .exists()
        )
        return sa.and_(users.c.last_seen_at < cutoff, ~alive)

    # ------------------------------------------------------------------ deleting
    async def _purge_users(self, conn: AsyncConnection, now: dt.datetime, report: RetentionReport) -> None:
        stale = self._stale_users(now)
        after = 0
        while True:
            candidates = (
                (
                    await conn.execute(
                        sa.select(users.c.id)
                        .where(stale, users.c.id > after)
                        .order_by(users.c.id)
                        .limit(self.batch)
                    )
                )
                .scalars()
                .all()
            )
            await conn.commit()
            if not candidates:
                return
            after = candidates[-1]
            async with conn.begin():
                # lock the conversations first, as a turn does, then check again: a user who wrote
                # in between has a fresh `updated_at` and stays
                await conn.execute(
                    sa.select(conversations.c.id)
                    .where(conversations.c.user_id.in_(candidates))
                    .order_by(conversations.c.id)
                    .with_for_update()
                )
                gone = (
                    await conn.execute(
                        sa.select(users.c.id, users.c.channel, users.c.external_id).where(
                            users.c.id.in_(candidates), stale
                        )
                    )
                ).all()
                if gone:
                    await self._delete_users(conn, gone, report)

    async def _delete_users(self, conn: AsyncConnection, gone: Any, report: RetentionReport) -> None:
        ids = [row.id for row in gone]
        theirs = sa.select(conversations.c.id).where(conversations.c.user_id.in_(ids))
        kept = sa.select(handovers.c.id).where(handovers.c.conversation_id.in_(theirs))
        report.conversations += await _count(conn, conversations, conversations.c.user_id.in_(ids))
        report.messages += await _count(conn, messages, messages.c.conversation_id.in_(theirs))
        report.notes += (
            await conn.execute(sa.delete(handover_notes).where(handover_notes.c.handover_id.in_(kept)))
        ).rowcount
        report.handovers_kept_without_text += (
            await conn.execute(
                sa.update(handovers)
                .where(handovers.c.conversation_id.in_(theirs))
                .values(conversation_id=None)
            )
        ).rowcount
        for row in gone:  # shells for deduplication only; in practice already purged by age
            await erase_deliveries(conn, row.channel, row.external_id)
        report.users += (await conn.execute(sa.delete(users).where(users.c.id.in_(ids)))).rowcount

    async def _purge_records(self, conn: AsyncConnection, now: dt.datetime, report: RetentionReport) -> None:
        async with conn.begin():
            for name, table, condition in self._record_conditions(now):
                deleted = (await conn.execute(sa.delete(table).where(condition))).rowcount
                setattr(report, name, getattr(report, name) + deleted)

    def _record_conditions(self, now: dt.datetime) -> list[tuple[str, sa.Table, Any]]:
        records = now - self.policy.handovers
        pipeline = now - self.policy.pipeline
        return [
            (
                "handovers",
                handovers,
                sa.and_(handovers.c.status == "closed", handovers.c.closed_at < records),
            ),
            ("audit_entries", audit_log, audit_log.c.created_at < records),
            ("erased_cases", erased_cases, erased_cases.c.erased_at < records),
            ("inbox", inbox, sa.and_(inbox.c.status.notin_(ACTIVE_IN), inbox.c.created_at < pipeline)),
            ("outbox", outbox, sa.and_(outbox.c.status.notin_(ACTIVE_OUT), outbox.c.created_at < pipeline)),
            ("early_receipts", early_receipts, early_receipts.c.created_at < now - EARLY_RECEIPTS_KEPT),
            ("sessions", staff_sessions, staff_sessions.c.expires_at < now),
        ]

    # ------------------------------------------------------------------ counting (dry run)
    async def _count(self, conn: AsyncConnection, now: dt.datetime, report: RetentionReport) -> None:
        stale_ids = sa.select(users.c.id).where(self._stale_users(now))
        theirs = sa.select(conversations.c.id).where(conversations.c.user_id.in_(stale_ids))
        kept = sa.select(handovers.c.id).where(handovers.c.conversation_id.in_(theirs))
        report.users = await _count(conn, users, users.c.id.in_(stale_ids))
        report.conversations = await _count(conn, conversations, conversations.c.user_id.in_(stale_ids))
        report.messages = await _count(conn, messages, messages.c.conversation_id.in_(theirs))
        report.notes = await _count(conn, handover_notes, handover_notes.c.handover_id.in_(kept))
        report.handovers_kept_without_text = await _count(conn, handovers, handovers.c.id.in_(kept))
        for name, table, condition in self._record_conditions(now):
            setattr(report, name, await _count(conn, table, condition))
        await conn.commit()

    # ------------------------------------------------------------------ one runner at a time
    async def _lock(self, conn: AsyncConnection) -> bool:
        if conn.dialect.name != "postgresql":
            return True  # SQLite: one process, and each transaction takes the write lock
        got = (await conn.execute(sa.select(sa.func.pg_try_advisory_lock(ADVISORY_LOCK)))).scalar_one()
        await conn.commit()
        return bool(got)

    async def _unlock(self, conn: AsyncConnection) -> None:
        if conn.dialect.name == "postgresql":
            if conn.in_transaction():
                await conn.rollback()
            await conn.execute(sa.select(sa.func.pg_advisory_unlock(ADVISORY_LOCK)))
            await conn.commit()


async def _count(conn: AsyncConnection, table: sa.Table, condition: Any) -> int:
    return int(
        (await conn.execute(sa.select(sa.func.count()).select_from(table).where(condition))).scalar_one()
    )
