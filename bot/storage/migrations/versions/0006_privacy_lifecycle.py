"""Erasure and retention: handovers outlive their conversation, erased cases, salted inbox keys.

- `handovers.conversation_id` becomes nullable with ON DELETE SET NULL: retention deletes a
  conversation after RETENTION_DAYS but keeps its closed handovers (without notes or texts) for
  HANDOVER_RETENTION_DAYS. /delete removes the handovers itself.
- `erased_cases` keeps, for the console, that a case existed and was erased by its user.
- `inbox.external_id` holds a salted SHA-256 of the channel's message identity instead of the
  identity itself (a WhatsApp message id embeds the phone number); `inbox_salt` holds the salt.
  Existing rows are converted, so a redelivery of a message accepted before the upgrade is still
  recognised.

Revision ID: 0006_privacy_lifecycle
Revises: 0005_delivery_receipts
Create Date: 2026-11-24
"""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa
from alembic import op

from bot.storage.dedup import dedup_key

revision = "0006_privacy_lifecycle"
down_revision = "0005_delivery_receipts"
branch_labels = None
depends_on = None

FK_NAME = "fk_handovers_conversation_id_conversations"


def _conversation_fk(bind: Any) -> str | None:
    for fk in sa.inspect(bind).get_foreign_keys("handovers"):
        if fk["referred_table"] == "conversations":
            return str(fk["name"]) if fk["name"] else None
    return None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # SQLite cannot alter a constraint: batch mode copies the table; the unnamed foreign key
        # gets a name through the naming convention so that it can be dropped.
        with op.batch_alter_table(
            "handovers",
            recreate="always",
            naming_convention={"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"},
        ) as batch:
            batch.drop_constraint(FK_NAME, type_="foreignkey")
            batch.alter_column("conversation_id", existing_type=sa.Integer, nullable=True)
            batch.create_foreign_key(
                FK_NAME, "conversations", ["conversation_id"], ["id"], ondelete="SET NULL"
            )
    else:
        existing = _conversation_fk(bind)
        if existing:
            op.drop_constraint(existing, "handovers", type_="foreignkey")
        op.alter_column("handovers", "conversation_id", existing_type=sa.Integer, nullable=True)
        op.create_foreign_key(
            FK_NAME, "handovers", "conversations", ["conversation_id"], ["id"], ondelete="SET NULL"
        )

    op.create_table(
        "erased_cases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("team_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee_id", sa.Integer),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_erased_cases_erased_at", "erased_cases", ["erased_at"])

    salt_table = op.create_table(
        "inbox_salt",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("salt", sa.String(64), nullable=False),
    )
    salt = secrets.token_hex(32)
    op.bulk_insert(salt_table, [{"id": 1, "salt": salt}])
    inbox = sa.table("inbox", sa.column("id", sa.Integer), sa.column("channel"), sa.column("external_id"))
    rows = bind.execute(sa.select(inbox.c.id, inbox.c.channel, inbox.c.external_id)).all()
    for row in rows:
        bind.execute(
            sa.update(inbox)
            .where(inbox.c.id == row.id)
            .values(external_id=dedup_key(salt, row.channel, row.external_id))
        )


def downgrade() -> None:
    # The inbox keys stay hashed: the identities they came from are gone (that was the point).
    op.drop_table("inbox_salt")
    op.drop_index("ix_erased_cases_erased_at", table_name="erased_cases")
    op.drop_table("erased_cases")
    op.execute("DELETE FROM handovers WHERE conversation_id IS NULL")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table("handovers", recreate="always") as batch:
            batch.drop_constraint(FK_NAME, type_="foreignkey")
            batch.alter_column("conversation_id", existing_type=sa.Integer, nullable=False)
            batch.create_foreign_key(
                FK_NAME, "conversations", ["conversation_id"], ["id"], ondelete="CASCADE"
            )
    else:
        op.drop_constraint(FK_NAME, "handovers", type_="foreignkey")
        op.alter_column("handovers", "conversation_id", existing_type=sa.Integer, nullable=False)
        op.create_foreign_key(
            FK_NAME, "handovers", "conversations", ["conversation_id"], ["id"], ondelete="CASCADE"
        )
