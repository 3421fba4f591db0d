"""Room for the "not helped" rating of a closed handover.

`handovers.feedback` was `varchar(8)`, but the "Nein" button stores `not_helped` (10 characters):
on PostgreSQL that turn failed and the rating was lost (SQLite ignores the length). Found by the
statistics tests of issue 9.

Revision ID: 0008_feedback_length
Revises: 0007_transcript_end
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_feedback_length"
down_revision = "0007_transcript_end"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handovers") as batch:
        batch.alter_column("feedback", type_=sa.String(16), existing_type=sa.String(8))


def downgrade() -> None:
    with op.batch_alter_table("handovers") as batch:
        batch.alter_column("feedback", type_=sa.String(8), existing_type=sa.String(16))
