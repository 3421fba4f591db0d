"""Handovers to caseworkers: the queue, internal notes, the audit log, German beside each message.

`handover_requests` (a record of a wish for a person) becomes `handovers` (a caseworker's unit of
work with team, deadline, owner and status); earlier requests are carried over as waiting.

Revision ID: 0004_handovers
Revises: 0003_staff
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_handovers"
down_revision = "0003_staff"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handovers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "conversation_id",
            sa.Integer,
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("team_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False, server_default="waiting"),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("town", sa.String(64)),
        sa.Column("assignee_id", sa.Integer, sa.ForeignKey("staff.id", ondelete="SET NULL")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("first_response_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("closed_by", sa.Integer),
        sa.Column("seen_message_id", sa.Integer, nullable=False, server_default="0"),
        sa.Column("feedback", sa.String(8)),
    )
    op.create_index("ix_handovers_status_team_id", "handovers", ["status", "team_id"])
    op.create_index("ix_handovers_conversation_id", "handovers", ["conversation_id"])
    op.execute(
        "INSERT INTO handovers (conversation_id, reason, priority, team_id, status, channel, language,"
        " town, created_at, due_at)"
        " SELECT r.conversation_id, r.reason, r.priority, r.team_id, 'waiting', u.channel,"
        " COALESCE(c.language, 'de'), c.town, r.created_at, r.created_at"
        " FROM handover_requests r JOIN conversations c ON c.id = r.conversation_id"
        " JOIN users u ON u.id = c.user_id"
    )
    op.drop_index("ix_handover_requests_status_priority", table_name="handover_requests")
    op.drop_table("handover_requests")
    op.create_table(
        "handover_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "handover_id", sa.Integer, sa.ForeignKey("handovers.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff.id", ondelete="SET NULL")),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_handover_notes_handover_id", "handover_notes", ["handover_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("staff_id", sa.Integer),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("handover_id", sa.Integer),
        sa.Column("detail", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_audit_log_created_at", "audit_log", ["created_at"])
    op.create_index("ix_audit_log_handover_id", "audit_log", ["handover_id"])
    op.add_column("messages", sa.Column("german", sa.Text))
    op.add_column("messages", sa.Column("german_machine", sa.Boolean))
    op.add_column("messages", sa.Column("author_id", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("author_id")
        batch.drop_column("german_machine")
        batch.drop_column("german")
    op.drop_table("audit_log")
    op.drop_table("handover_notes")
    op.create_table(
        "handover_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "conversation_id",
            sa.Integer,
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("team_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False, server_default="requested"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_handover_requests_status_priority", "handover_requests", ["status", "priority"])
    op.drop_table("handovers")
