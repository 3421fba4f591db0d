"""The schema, as SQLAlchemy Core tables.

Core rather than the ORM: the engine does a handful of small statements per message, and the
benchmark target (p99 under 20 ms per message on SQLite) leaves no room for unit-of-work overhead.
Alembic migrations in `migrations/versions` create exactly these tables.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("external_id", sa.String(128), nullable=False),
    sa.Column("language", sa.String(8)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("channel", "external_id", name="uq_users_channel_external_id"),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True
    ),
    sa.Column("status", sa.String(16), nullable=False, server_default="bot"),
    sa.Column("language", sa.String(8)),
    sa.Column("language_explicit", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("town", sa.String(64)),
    sa.Column("slots", sa.JSON, nullable=False),
    sa.Column("misses", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "conversation_id", sa.Integer, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("direction", sa.String(3), nullable=False),  # "in" or "out"
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False, server_default="text"),  # text, photo, sticker, ...
    sa.Column("payload", sa.String(128)),
    sa.Column("buttons", sa.JSON),
    sa.Column("intent", sa.String(64)),
    sa.Column("confidence", sa.Float),
    sa.Column("language", sa.String(8)),
    sa.Column("answer_key", sa.String(96)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # The console's German: a machine translation of what the user or the bot wrote, or what a
    # caseworker wrote before it was translated (then `author_id` names them).
    sa.Column("german", sa.Text),
    sa.Column("german_machine", sa.Boolean),
    sa.Column("author_id", sa.Integer),
    # The delivery of a message written outside a turn (a caseworker's reply, a notice), so that the
    # console can say whether it arrived; no foreign key, since outbox rows are cleaned up separately.
    sa.Column("outbox_id", sa.Integer),
    sa.Index("ix_messages_conversation_id_id", "conversation_id", "id"),
)

# A handover (DESIGN "Handover") exists only after the user agreed to share the chat. It is the
# caseworkers' unit of work: routed to one team, with a priority and a first-response deadline counted
# in the team's office hours, owned by at most one caseworker, closed when the bot takes over again.
# A closed handover outlives its conversation (HANDOVER_RETENTION_DAYS, for the district's figures):
# retention then sets `conversation_id` to NULL and deletes its notes, so no text stays with it.
# /delete removes the user's handovers at once (see `erased_cases`).
handovers = sa.Table(
    "handovers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id", ondelete="SET NULL")),
    sa.Column("reason", sa.String(32), nullable=False),  # user_request | emergency | deadline | ...
    sa.Column("priority", sa.Integer, nullable=False),  # 0 emergency, 1 deadline, 2 normal
    sa.Column("team_id", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False, server_default="waiting"),  # waiting | active | closed
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("town", sa.String(64)),
    sa.Column("assignee_id", sa.Integer, sa.ForeignKey("staff.id", ondelete="SET NULL")),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True)),
    sa.Column("first_response_at", sa.DateTime(timezone=True)),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    sa.Column("closed_by", sa.Integer),  # staff id, kept without a foreign key for the statistics
    sa.Column("seen_message_id", sa.Integer, nullable=False, server_default="0"),
    # a closed case's transcript ends here: the user's consent covered this handover, not what follows
    sa.Column("last_message_id", sa.Integer),
    sa.Column("feedback", sa.String(16)),  # helped | not_helped, asked when the chat is closed
    sa.Index("ix_handovers_status_team_id", "status", "team_id"),
    sa.Index("ix_handovers_conversation_id", "conversation_id"),
)

# Internal notes on a handover: never sent to the user, gone with the conversation.
handover_notes = sa.Table(
    "handover_notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("handover_id", sa.Integer, sa.ForeignKey("handovers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff.id", ondelete="SET NULL")),
    sa.Column("kind", sa.String(16), nullable=False),  # note | transfer | assign
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_handover_notes_handover_id", "handover_id"),
)

# Who opened, read, wrote and closed what. No message text and no foreign keys: the record of what
# staff did outlives an erased conversation (it then points to an id that no longer exists).
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("staff_id", sa.Integer),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("handover_id", sa.Integer),
    sa.Column("detail", sa.String(200)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_audit_log_created_at", "created_at"),
    sa.Index("ix_audit_log_handover_id", "handover_id"),
)

# What is left of a handover whose user erased their data (/delete): enough for the console to say
# "vom Nutzer gelöscht" where the case was, and nothing about the person (no conversation, language,
# town or reason). `id` is the former handover's id, which the audit log and old links refer to.
erased_cases = sa.Table(
    "erased_cases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("team_id", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False),  # the handover's status when it was erased
    sa.Column("assignee_id", sa.Integer),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_erased_cases_erased_at", "erased_at"),
)

# The durable pipeline (DESIGN "Flow of one message"). Inbox and outbox rows are addressed by
# (channel, chat_id) rather than by foreign key: a message is stored before Lotse knows the user,
# and a reply to an erased user must still be deliverable.
inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(32), nullable=False),
    # A salted hash of the channel's message identity (see `inbox_salt`): deduplication needs only
    # equality, and a WhatsApp message id would otherwise carry the sender's phone number.
    sa.Column("external_id", sa.String(128), nullable=False),
    sa.Column("chat_id", sa.String(128), nullable=False),  # "-" once the user has erased their data
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("status", sa.String(12), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("claim", sa.String(32)),  # fencing token of the current lease
    sa.Column("error", sa.String(200)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("done_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("channel", "external_id", name="uq_inbox_channel_external_id"),
    sa.Index("ix_inbox_status_id", "status", "id"),
    sa.Index("ix_inbox_channel_chat_id_id", "channel", "chat_id", "id"),
)

# One random salt per database for the inbox's deduplication keys, made by the migration. Every
# worker on the database uses the same one, so a redelivery is recognised whichever worker takes it.
inbox_salt = sa.Table(
    "inbox_salt",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("salt", sa.String(64), nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("chat_id", sa.String(128), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("status", sa.String(12), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("parts_sent", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("claim", sa.String(32)),  # fencing token of the current lease
    sa.Column("error", sa.String(200)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    # What the platform reported after sending (WhatsApp's status callbacks refer to its message id).
    sa.Column("external_id", sa.String(128)),  # the platform's id of the message's last part
    sa.Column("receipt", sa.String(12)),  # delivered | read | failed, the furthest status reported
    sa.Index("ix_outbox_status_channel_id", "status", "channel", "id"),
    sa.Index("ix_outbox_channel_chat_id_id", "channel", "chat_id", "id"),
    sa.Index("ix_outbox_channel_external_id", "channel", "external_id"),
)

# A status callback that came before the sender stored the message's id (Meta may call back within
# milliseconds); applied and deleted when the id is stored, dropped after a day if it never is.
early_receipts = sa.Table(
    "early_receipts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("external_id", sa.String(128), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("error", sa.String(200)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_early_receipts_channel_external_id", "channel", "external_id"),
    sa.Index("ix_early_receipts_created_at", "created_at"),
)

# The caseworker console (DESIGN "Privacy and security"): personal accounts, never shared logins.
# Sessions are stored server-side so that a password change or a disabled account ends them at
# once; the table holds only the SHA-256 of the cookie token, so a leaked database opens no session.
staff = sa.Table(
    "staff",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("display_name", sa.String(128), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # caseworker | lead | editor | admin
    sa.Column("teams", sa.JSON, nullable=False),  # team ids from content/teams.yml
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", sa.DateTime(timezone=True)),
    sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("username", name="uq_staff_username"),
)

staff_sessions = sa.Table(
    "staff_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # sha256 hex of the cookie token
    sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff.id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_staff_sessions_staff_id", "staff_id"),
)
