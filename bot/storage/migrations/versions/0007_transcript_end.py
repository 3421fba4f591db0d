"""A closed handover's transcript ends where the case was closed.

The user agreed that the team reads their conversation for this handover. What they write to the
bot after the case is closed is not covered by that agreement, so `handovers.last_message_id` keeps
the last message the case includes (the "assistant is back" notice) and the console shows nothing
after it. Cases closed before this revision are cut at their closing time, the best that is known.

Revision ID: 0007_transcript_end
Revises: 0006_privacy_lifecycle
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_transcript_end"
down_revision = "0006_privacy_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handovers") as batch:
        batch.add_column(sa.Column("last_message_id", sa.Integer))
    handovers = sa.table(
        "handovers",
        sa.column("id"),
        sa.column("conversation_id"),
        sa.column("closed_at"),
        sa.column("last_message_id"),
    )
    messages = sa.table("messages", sa.column("id"), sa.column("conversation_id"), sa.column("created_at"))
    last = (
        sa.select(sa.func.max(messages.c.id))
        .where(
            messages.c.conversation_id == handovers.c.conversation_id,
            messages.c.created_at <= handovers.c.closed_at,
        )
        .scalar_subquery()
    )
    op.execute(
        sa.update(handovers)
        .where(handovers.c.closed_at.is_not(None))
        .values(last_message_id=sa.func.coalesce(last, 0))
    )


def downgrade() -> None:
    with op.batch_alter_table("handovers") as batch:
        batch.drop_column("last_message_id")
