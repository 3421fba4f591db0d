"""Storage: migrations, and that every turn is stored completely."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from bot.engine.engine import Engine
from bot.storage.database import alembic_config, create_engine, upgrade
from bot.storage.tables import conversations, handovers, messages, metadata, users
from tests.conftest import Chat


async def test_migrations_are_idempotent(database_url: str) -> None:
    database = create_engine(database_url)
    await upgrade(database)
    await upgrade(database)
    async with database.connect() as connection:
        version = (await connection.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar_one()
        columns = await connection.run_sync(
            lambda sync: {t: {c["name"] for c in sa.inspect(sync).get_columns(t)} for t in metadata.tables}
        )
    await database.dispose()
    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()
    # the migrations build exactly the schema the code is written against
    assert columns == {name: {c.name for c in table.columns} for name, table in metadata.tables.items()}


async def test_each_turn_stores_inbound_replies_and_state(engine: Engine) -> None:
    chat = Chat(engine)
    first = await chat.say("wann ist die Sprechstunde?")
    second = await chat.press("town:eningen")
    store = engine.store
    async with store.transaction() as tx:  # type: ignore[attr-defined]
        state = await tx.load("test", chat.user, None)
        rows = (
            await tx.conn.execute(
                sa.select(messages.c.direction, messages.c.text)
                .where(messages.c.conversation_id == state.conversation_id)
                .order_by(messages.c.id)
            )
        ).all()
        stored = (
            await tx.conn.execute(sa.select(conversations).where(conversations.c.id == state.conversation_id))
        ).one()
    assert [r.direction for r in rows].count("in") == 2
    assert [r.direction for r in rows].count("out") == len(first.messages) + len(second.messages)
    assert rows[0].text == "wann ist die Sprechstunde?"
    assert stored.town == "eningen"


async def test_consenting_to_a_person_records_a_routed_request(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.say("ich möchte mit einem Menschen sprechen", town="bad-urach")
    await chat.press("handover:yes")
    store = engine.store
    async with store.transaction() as tx:  # type: ignore[attr-defined]
        state = await tx.load("test", chat.user, None)
        request = (
            await tx.conn.execute(
                sa.select(handovers).where(handovers.c.conversation_id == state.conversation_id)
            )
        ).one()
    assert request.team_id == "im-kreis-ermstal"
    assert request.reason == "user_request" and request.priority == 2


async def test_delete_erases_every_message_of_the_user(engine: Engine) -> None:
    chat = Chat(engine)
    secret = "mein Name ist Samira Beispiel und ich wohne in der Hauptstraße 5"
    await chat.say(secret)
    confirm = await chat.say("/delete")
    assert "privacy:delete" in [b.payload for m in confirm.messages for b in m.buttons]
    done = await chat.press("privacy:delete")
    assert done.messages
    async with engine.store.transaction() as tx:  # type: ignore[attr-defined]
        found = (
            await tx.conn.execute(sa.select(sa.func.count()).where(messages.c.text.contains("Samira")))
        ).scalar_one()
        users_left = (
            await tx.conn.execute(
                sa.text("SELECT count(*) FROM users WHERE external_id = :u"), {"u": chat.user}
            )
        ).scalar_one()
    assert found == 0 and users_left == 0


async def test_mydata_exports_the_stored_messages(engine: Engine) -> None:
    chat = Chat(engine)
    await chat.say("wann ist die Sprechstunde in Münsingen?")
    reply = await chat.say("/mydata")
    text = "\n".join(m.text for m in reply.messages)
    assert "wann ist die Sprechstunde in Münsingen?" in text and "Ort: Münsingen" in text


async def test_each_user_keeps_their_own_conversation_when_ids_drift_apart(engine: Engine) -> None:
    """After a crash PostgreSQL's sequences do not roll back, so user and conversation ids differ."""
    store = engine.store
    async with store.transaction() as tx:  # type: ignore[attr-defined]
        await tx.conn.execute(  # a user without conversation, as a crash between the two inserts leaves
            sa.insert(users).values(
                channel="test",
                external_id=f"orphan-{uuid.uuid4().hex}",
                created_at=dt.datetime.now(dt.timezone.utc),
                last_seen_at=dt.datetime.now(dt.timezone.utc),
            )
        )
    first, second = Chat(engine), Chat(engine)
    await first.say("/start de_metzingen")
    await second.say("/start en_reutlingen")
    again = await first.say("/menu")
    assert again.language == "de"
    await second.say("/menu")
    async with store.transaction() as tx:  # type: ignore[attr-defined]
        mine, theirs = await tx.load("test", first.user, None), await tx.load("test", second.user, None)
    assert (mine.town, mine.language) == ("metzingen", "de")
    assert (theirs.town, theirs.language) == ("reutlingen", "en")
    assert mine.conversation_id != theirs.conversation_id
