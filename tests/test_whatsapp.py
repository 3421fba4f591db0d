"""WhatsApp end to end: signed webhooks from a fake Meta into `lotse serve`, answers to a fake Graph API.

The fake speaks the real protocol over real HTTP and enforces what Meta enforces (signatures are
checked by Lotse; button and list limits, templates and the 24-hour window by the fake), so Lotse's
own httpx client, webhook and sender run exactly as in production.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bot.engine.messages import Outbound
from bot.engine.understanding import Understanding
from bot.handover.desk import Desk
from bot.handover.errors import InvalidAction
from bot.i18n.catalogs import Catalogs, Translator
from bot.live.editions import Editions
from bot.storage.deliveries import enqueue_one
from bot.storage.handovers import Handovers
from bot.storage.tables import conversations, early_receipts, handovers, inbox, messages, outbox, users
from tests.fakes.libretranslate import FakeLibreTranslate
from tests.fakes.whatsapp import FakeGraphApi
from tests.fakes.whatsapp_payloads import sign
from tests.harness import WHATSAPP_VERIFY_TOKEN, Running, running_service, whatsapp_settings
from tests.test_console_accounts import _csrf

KITA_FA = "سلام، برای پسرم جای مهدکودک می‌خواهم"
ASK_FA = "می‌خواهم با یک نفر صحبت کنم"
ASK_DE = "Ich möchte mit einer Person sprechen"
REPLY_DE = "Guten Tag, hier ist Frau Weber. Ich helfe Ihnen gern."
REPLY_FA = "روز بخیر، من خانم وبر هستم. با کمال میل به شما کمک می‌کنم."
PASSWORD = "ein langes Passwort 1234"
PHOTO = (
    "Bilder, Videos und Dateien kann ich leider nicht öffnen. Geht es um einen Brief vom Amt? Schreiben Sie "
    "mir in ein paar Worten, worum es geht, oder sprechen Sie mit einer Person."
)
VOICE = (
    "Sprachnachrichten kann ich leider nicht anhören. Bitte schreiben Sie Ihre Frage, gern in Ihrer eigenen "
    "Sprache."
)


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraphApi]:
    with FakeGraphApi() as fake:
        yield fake


@pytest.fixture(scope="module")
def libre() -> Iterator[FakeLibreTranslate]:
    with FakeLibreTranslate({("fa", "de", ASK_FA): ASK_DE, ("de", "fa", REPLY_DE): REPLY_FA}) as fake:
        yield fake


@pytest.fixture
async def running(
    graph: FakeGraphApi, libre: FakeLibreTranslate, database_url: str, understanding: Understanding
) -> AsyncIterator[Running]:
    settings = whatsapp_settings(
        database_url, graph, translation_provider="libre", libretranslate_url=libre.url
    )
    async with running_service(settings, understanding) as service:
        graph.reset()
        graph.heal()
        assert graph.settle()
        graph.configure_webhook(f"{service.base_url}/whatsapp/webhook", graph.app_secret)
        yield service


def new_user() -> str:
    return f"49151{random.randint(10**7, 10**8 - 1)}"


async def received(graph: FakeGraphApi, wa_id: str, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    """The messages delivered to the user, once there are at least `count`."""
    assert await graph.await_for(lambda g: len(g.messages(wa_id)) >= count, timeout), graph.messages(wa_id)
    return graph.messages(wa_id)


async def settled(graph: FakeGraphApi, wa_id: str, quiet: float = 0.8) -> list[dict[str, Any]]:
    """The messages delivered once nothing new arrived for `quiet` seconds."""
    seen = -1
    while True:
        now = len(graph.messages(wa_id))
        if now == seen:
            return graph.messages(wa_id)
        seen = now
        await asyncio.sleep(quiet)


def body_text(message: dict[str, Any]) -> str:
    if message["type"] == "text":
        return str(message["text"]["body"])
    if message["type"] == "interactive":
        return str(message["interactive"]["body"]["text"])
    return ""


def choices(message: dict[str, Any]) -> dict[str, str]:
    """payload -> title of an interactive message's buttons or list rows."""
    interactive = message["interactive"]
    if interactive["type"] == "button":
        return {b["reply"]["id"]: b["reply"]["title"] for b in interactive["action"]["buttons"]}
    rows = [row for section in interactive["action"]["sections"] for row in section["rows"]]
    return {row["id"]: row["title"] for row in rows}


async def inbox_rows(running: Running, wa_id: str) -> int:
    async with running.service.lotse.database.connect() as conn:
        return int(
            (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(inbox)
                    .where(inbox.c.channel == "whatsapp", inbox.c.chat_id == wa_id)
                )
            ).scalar_one()
        )


async def test_meta_verifies_the_webhook_with_the_configured_token(
    graph: FakeGraphApi, running: Running
) -> None:
    answer = await graph.averify("subscribe", WHATSAPP_VERIFY_TOKEN, "1158201444")
    assert answer.status_code == 200 and answer.text == "1158201444"
    assert (await graph.averify("subscribe", "a-guess", "1158201444")).status_code == 403
    assert (await graph.averify("unsubscribe", WHATSAPP_VERIFY_TOKEN, "1158201444")).status_code == 403


async def test_forged_and_unsigned_posts_get_403_and_store_nothing(
    graph: FakeGraphApi, running: Running
) -> None:
    user = new_user()
    built = graph.webhooks.text(user, "سلام")
    forged = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(built.body, "not-the-secret")}
    assert await graph.apost_raw(built.body, forged) == 403
    assert await graph.apost_raw(built.body, {"Content-Type": "application/json"}) == 403
    # a real signature, but of another body: the text was changed on the way
    signed_other = built.headers(graph.app_secret)
    tampered = built.body.replace("سلام".encode(), b"hello")
    assert await graph.apost_raw(tampered, signed_other) == 403
    await asyncio.sleep(1.0)
    assert await inbox_rows(running, user) == 0
    assert graph.messages(user) == []


async def test_a_farsi_conversation_is_answered_in_farsi_with_lists_and_buttons(
    graph: FakeGraphApi, running: Running, catalogs: Catalogs
) -> None:
    fa = Translator(catalogs, "fa")._
    user = new_user()
    first = graph.webhooks.text(user, KITA_FA)
    assert await graph.auser_sends(first) == 200
    sent = await settled(graph, user)
    assert sent, "no answer"
    question = next(m for m in sent if body_text(m) == fa("Wie alt ist Ihr Kind?"))
    assert question["type"] == "interactive"
    assert question["interactive"]["type"] == "list", "four choices do not fit WhatsApp's three buttons"
    assert set(choices(question).values()) == {
        fa("unter 1 Jahr"),
        fa("1 bis 2 Jahre"),
        fa("3 bis 6 Jahre"),
        fa("Schulkind"),
    }
    assert question["interactive"]["action"]["button"] == fa("Auswählen")
    assert {r["message_id"] for r in graph.reads} >= {first.message_id}, "the message was marked as read"

    count = len(sent)
    assert (
        await graph.auser_sends(graph.webhooks.list_reply(user, "age:kindergarten", fa("3 bis 6 Jahre")))
        == 200
    )
    sent = await settled(graph, user)
    where = next(m for m in sent[count:] if body_text(m) == fa("Wo wohnt Ihre Familie gerade?"))
    assert set(choices(where)) == {"status:reception", "status:municipality"}

    count = len(sent)
    tap = graph.reply_to_choice(user, choices(where)["status:reception"])
    assert await graph.auser_sends(tap) == 200
    answer = (await settled(graph, user))[count:]
    assert answer, "the choice was answered"
    texts = [body_text(m) for m in answer]
    assert all(any("\u0600" <= ch <= "\u06ff" for ch in text) for text in texts), texts
    assert graph.outside_window(user) == []
    assert all(call.status == 200 for call in graph.calls), [c for c in graph.calls if c.status != 200]


async def test_a_duplicate_delivery_gets_one_reply(graph: FakeGraphApi, running: Running) -> None:
    user = new_user()
    built = graph.webhooks.text(user, "سلام، کلاس زبان آلمانی کجاست؟")
    assert await graph.auser_sends(built) == 200
    once = len(await settled(graph, user))
    assert once > 0
    assert await graph.auser_sends(built) == 200  # Meta delivers again: still acknowledged
    assert len(await settled(graph, user, quiet=1.5)) == once
    assert await inbox_rows(running, user) == 1


async def test_without_a_language_hint_lotse_asks_with_a_list_and_answers_media_politely(
    graph: FakeGraphApi, running: Running, catalogs: Catalogs
) -> None:
    fa = Translator(catalogs, "fa")._
    user = new_user()
    assert await graph.auser_sends(graph.webhooks.sticker(user)) == 200
    sent = await settled(graph, user)
    ask = sent[-1]
    assert ask["type"] == "interactive" and ask["interactive"]["type"] == "list"
    assert fa("Bitte wählen Sie Ihre Sprache:") in body_text(ask)
    assert "lang:fa" in choices(ask)

    count = len(sent)
    assert await graph.auser_sends(graph.reply_to_choice(user, choices(ask)["lang:fa"])) == 200
    count = len(await settled(graph, user))
    assert await graph.auser_sends(graph.webhooks.image(user)) == 200
    after_photo = (await settled(graph, user))[count:]
    assert body_text(after_photo[0]) == fa(PHOTO)
    count += len(after_photo)
    assert await graph.auser_sends(graph.webhooks.audio(user, voice=True)) == 200
    after_voice = (await settled(graph, user))[count:]
    assert body_text(after_voice[0]) == fa(VOICE)


async def test_rate_limits_are_waited_out_and_an_expired_token_is_recorded(
    graph: FakeGraphApi, running: Running
) -> None:
    user = new_user()
    graph.fail_next(130429, count=2)  # throughput limit: the sender waits and tries again
    assert await graph.auser_sends(graph.webhooks.text(user, "سلام")) == 200
    assert await received(graph, user, 1)

    other = new_user()
    graph.fail_next(190, count=50)  # an expired token: retrying cannot help
    assert await graph.auser_sends(graph.webhooks.text(other, "سلام")) == 200

    async def failed() -> list[Any]:
        async with running.service.lotse.database.connect() as conn:
            rows = await conn.execute(
                sa.select(outbox.c.error).where(outbox.c.chat_id == other, outbox.c.status == "failed")
            )
            return list(rows.scalars())

    for _ in range(100):
        if await failed():
            break
        await asyncio.sleep(0.1)
    errors = await failed()
    assert errors and all("WHATSAPP_TOKEN" in error for error in errors), errors
    graph.heal()


async def test_a_caseworker_reply_25_hours_after_the_users_last_message_goes_out_as_a_template(
    graph: FakeGraphApi, running: Running, catalogs: Catalogs
) -> None:
    fa = Translator(catalogs, "fa")._
    user = new_user()
    assert await graph.auser_sends(graph.webhooks.text(user, ASK_FA)) == 200
    consent = next(
        m for m in await settled(graph, user) if m["type"] == "interactive" and "handover:yes" in choices(m)
    )
    yes = graph.webhooks.button_reply(user, "handover:yes", choices(consent)["handover:yes"])
    assert await graph.auser_sends(yes) == 200
    await settled(graph, user)
    assert await graph.auser_sends(graph.webhooks.text(user, "Reutlingen")) == 200
    before = len(await settled(graph, user))

    database = running.service.lotse.database
    async with database.connect() as conn:
        conversation_id, case_id = (
            await conn.execute(
                sa.select(conversations.c.id, handovers.c.id)
                .join(users, users.c.id == conversations.c.user_id)
                .join(handovers, handovers.c.conversation_id == conversations.c.id)
                .where(users.c.external_id == user)
            )
        ).one()
    # A day and an hour pass without a word from the user, for Lotse and for WhatsApp alike.
    async with database.begin() as conn:  # row by row: SQLite has no date arithmetic
        rows = await conn.execute(
            sa.select(messages.c.id, messages.c.created_at).where(
                messages.c.conversation_id == conversation_id
            )
        )
        for message_id, created_at in rows.all():
            await conn.execute(
                sa.update(messages)
                .where(messages.c.id == message_id)
                .values(created_at=created_at - dt.timedelta(hours=25))
            )
    graph.set_last_user_message(user, graph.now() - 25 * 3600)

    desk, accounts = running.service.desk, running.service.accounts
    assert desk is not None and accounts is not None
    weber = await accounts.create(
        f"weber-{user}", PASSWORD, "caseworker", ["im-stadt-reutlingen"], "Frau Weber"
    )
    view = await desk.open(weber, case_id)
    assert view.route is not None and view.route.mode == "template"
    assert view.route.window is not None and not view.route.window.is_open(desk.clock())

    # the console says so, in the case's facts and above the reply form
    async with httpx.AsyncClient(base_url=running.base_url) as browser:
        page = await browser.get("/console/login")
        await browser.post(
            "/console/login",
            data={"csrf": _csrf(page.text), "username": weber.username, "password": PASSWORD},
        )
        html = (await browser.get(f"/console/cases/{case_id}")).text
    assert "WhatsApp-Fenster" in html and "geschlossen" in html
    assert "24-Stunden-Fenster" in html and "lotse_reply" in html

    preview = await desk.preview(weber, case_id, REPLY_DE)
    assert preview.text == REPLY_FA
    await desk.reply(weber, case_id, preview.german, preview.text, machine=preview.machine)

    sent = await received(graph, user, before + 1)
    late = sent[before:]
    assert [m["type"] for m in late] == ["template"], "nothing free-form after the window closed"
    template = late[0]["template"]
    assert template["name"] == "lotse_reply" and template["language"]["code"] == "fa"
    parameter = template["components"][0]["parameters"][0]["text"]
    assert parameter.startswith(REPLY_FA) and parameter.endswith(fa("(automatische Übersetzung)"))
    assert graph.outside_window(user) == [], "no free text was refused by WhatsApp"

    async def delivery() -> str | None:
        lines = await Handovers(database).transcript(conversation_id)
        return next((line.delivery for line in reversed(lines) if line.author == "Frau Weber"), None)

    for _ in range(100):  # the fake reports "sent", then "delivered", to the webhook
        if await delivery() == "delivered":
            break
        await asyncio.sleep(0.1)
    assert await delivery() == "delivered"

    # Without an approved Farsi template the reply is refused with the reason, and nothing is queued.
    approved = desk.content.templates["caseworker_reply"]
    template_without_fa = approved.copy(
        update={"languages": {k: v for k, v in approved.languages.items() if k != "fa"}}
    )
    content = dataclasses.replace(desk.content, templates={"caseworker_reply": template_without_fa})
    strict = Desk(desk.store, Editions(content, desk.catalogs), desk.translator, clock=desk.clock)
    with pytest.raises(InvalidAction, match="keine WhatsApp-Vorlage"):
        await strict.reply(weber, case_id, "Noch eine Frage", "Noch eine Frage", machine=False)
    await asyncio.sleep(1.0)
    assert len(graph.messages(user)) == before + 1


async def test_a_failure_meta_reports_later_shows_as_not_delivered(
    graph: FakeGraphApi, running: Running
) -> None:
    user = new_user()
    assert await graph.auser_sends(graph.webhooks.text(user, "سلام")) == 200
    await settled(graph, user)
    last = graph.outgoing(user)[-1].id
    # Meta accepted the message, then reports that it could not be delivered
    assert await graph.auser_sends(graph.webhooks.statuses(user, last, "failed")) == 200
    assert (
        await graph.auser_sends(graph.webhooks.statuses(user, last, "delivered")) == 200
    )  # late, out of order

    async def row() -> Any:
        async with running.service.lotse.database.connect() as conn:
            query = sa.select(outbox.c.status, outbox.c.receipt, outbox.c.error).where(
                outbox.c.channel == "whatsapp", outbox.c.external_id == last
            )
            return (await conn.execute(query)).first()

    for _ in range(100):
        if (found := await row()) is not None and found.receipt == "failed":
            break
        await asyncio.sleep(0.1)
    found = await row()
    assert found is not None and (found.status, found.receipt) == ("failed", "failed")
    assert found.error.startswith("131047") and "24-Stunden-Fenster" in found.error


async def test_a_receipt_that_overtakes_the_senders_record_is_kept_for_it(running: Running) -> None:
    """Meta may call back before the sender has stored the message's id; the receipt must not be lost."""
    deliveries = running.service.pipeline.deliveries
    now = dt.datetime.now(dt.timezone.utc)
    user, wamid = new_user(), f"wamid.early{random.randint(10**6, 10**7)}"
    async with running.service.lotse.database.begin() as conn:
        outbox_id = await enqueue_one(conn, "whatsapp-test", user, Outbound("سلام"), "fa", now)
    [item] = await deliveries.claim_outbox("whatsapp-test", now, 1)
    assert item.id == outbox_id
    assert not await deliveries.record_receipt("whatsapp-test", wamid, "read", None, now)
    assert not await deliveries.record_receipt("whatsapp-test", wamid, "delivered", None, now)
    await deliveries.sent(item, now, wamid)
    async with running.service.lotse.database.connect() as conn:
        receipt = (
            await conn.execute(sa.select(outbox.c.receipt).where(outbox.c.id == outbox_id))
        ).scalar_one()
        waiting = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(early_receipts)
                .where(early_receipts.c.external_id == wamid)
            )
        ).scalar_one()
    assert receipt == "read" and waiting == 0
