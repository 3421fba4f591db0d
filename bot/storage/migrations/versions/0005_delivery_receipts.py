"""Delivery receipts for push channels that report them (WhatsApp), and which reply a message was.

`outbox.external_id` is the platform's id of the (last part of the) message, which its status
callbacks refer to; `outbox.receipt` the furthest status reported (delivered, read, failed).
`messages.outbox_id` ties a caseworker's line in the transcript to its delivery, so the console
can say whether it arrived. `early_receipts` keeps a status that arrives before the sender has
stored the message's id (Meta may call back within milliseconds), until that id is stored.

Revision ID: 0005_delivery_receipts
Revises: 0004_handovers
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_delivery_receipts"
down_revision = "0004_handovers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("external_id", sa.String(128)))
        batch.add_column(sa.Column("receipt", sa.String(12)))
        batch.create_index("ix_outbox_channel_external_id", ["channel", "external_id"])
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("outbox_id", sa.Integer))
    op.create_table(
        "early_receipts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("error", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_early_receipts_channel_external_id", "early_receipts", ["channel", "external_id"])
    op.create_index("ix_early_receipts_created_at", "early_receipts", ["created_at"])


def downgrade() -> None:
    op.drop_table("early_receipts")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("outbox_id")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_channel_external_id")
        batch.drop_column("receipt")
        batch.drop_column("external_id")
