"""Cases whose user erased their data (/delete), as the console shows them.

When a user erases their data, their handovers are deleted with everything else and a marker in
`erased_cases` takes each one's place (see `SqlTransaction.erase`). A caseworker who had the chat
open or in the queue then reads "vom Nutzer gelöscht" instead of finding it gone without a word.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.database import as_utc, reader
from bot.storage.tables import erased_cases, staff


@dataclass(frozen=True)
class ErasedCase:
    id: int  # the former handover's id
    team_id: str | None
    status: str  # waiting | active | closed, when it was erased
    assignee_name: str | None
    opened_at: dt.datetime
    erased_at: dt.datetime


class ErasedCases:
    def __init__(self, engine: AsyncEngine) -> None:
        self.reader = reader(engine)

    async def recent(self, teams: Collection[str] | None, since: dt.datetime) -> list[ErasedCase]:
        """Cases of `teams` (all when None) erased since `since`, newest first."""
        query = _query().where(erased_cases.c.erased_at >= since).order_by(erased_cases.c.erased_at.desc())
        if teams is not None:
            query = query.where(erased_cases.c.team_id.in_(list(teams)))
        async with self.reader.connect() as conn:
            return [_erased(row) for row in (await conn.execute(query)).all()]

    async def get(self, case_id: int) -> ErasedCase | None:
        async with self.reader.connect() as conn:
            row = (await conn.execute(_query().where(erased_cases.c.id == case_id))).first()
        return None if row is None else _erased(row)


def _query() -> sa.Select:
    return sa.select(erased_cases, staff.c.display_name.label("assignee_name")).outerjoin(
        staff, staff.c.id == erased_cases.c.assignee_id
    )


def _erased(row: sa.Row) -> ErasedCase:
    return ErasedCase(
        id=row.id,
        team_id=row.team_id,
        status=row.status,
        assignee_name=row.assignee_name,
        opened_at=as_utc(row.opened_at),
        erased_at=as_utc(row.erased_at),
    )
