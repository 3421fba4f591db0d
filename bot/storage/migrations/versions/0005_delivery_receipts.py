"""Delivery receipts for push channels that report them (WhatsApp), and which reply a message was.

`outbox.external_id` is the platform's id of the (last part of the) message, which its status
callbacks refer to; `outbox.receipt` the furthest status reported (delivered, read, failed).
`messages.outbox_id` ties a caseworker's line in the transcript to its delivery, so the console
can say whether it arrived.

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


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("outbox_id")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_channel_external_id")
        batch.drop_column("receipt")
        batch.drop_column("external_id")
