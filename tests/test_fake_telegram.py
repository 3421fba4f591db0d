"""Self-test of the fake Telegram Bot API: the real python-telegram-bot client must accept its answers.

If PTB parses the fake's results and raises the same exception classes as against Telegram, tests of
Lotse's Telegram adapter that run against the fake say something about production.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter

from tests.fakes.telegram import FakeBotApi
from tests.fakes.telegram_updates import Updates

USER = 380_001


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBotApi]:
    with FakeBotApi() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeBotApi) -> FakeBotApi:
    server.reset()
    return server


@pytest.fixture(scope="module")
async def bot(server: FakeBotApi) -> AsyncIterator[Bot]:
    """One PTB client for the module: building its HTTPS-capable httpx client costs ~50 ms."""
    async with Bot(server.token, base_url=f"{server.base_url}/bot") as bot:  # initialize() calls getMe
        yield bot


def seconds(value: int | float | dt.timedelta) -> float:
    """RetryAfter.retry_after is an int in PTB 22, or a timedelta when PTB_TIMEDELTA=true is set."""
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


async def test_get_me(fake: FakeBotApi, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.username == "lotse_test_bot" and me.id == 123456
    assert [(call.method, call.status) for call in fake.calls] == [("getMe", 200)]


async def test_send_message_with_inline_keyboard(fake: FakeBotApi, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Так", callback_data="lang:uk")]])
    first = await bot.send_message(chat_id=USER, text="Привіт!", reply_markup=keyboard)
    second = await bot.send_message(chat_id=USER, text="<b>Kita</b> &amp; Schule", parse_mode="HTML")

    assert (first.message_id, second.message_id) == (1, 2)
    assert first.chat.id == USER and first.chat.type == "private"
    assert first.reply_markup == keyboard
    assert second.text == "Kita & Schule"  # Telegram returns the text with the markup parsed away
    [params, _] = fake.sent(chat_id=USER)
    assert params["chat_id"] == USER  # PTB sends "380001" in a form; the fake decodes it
    assert params["reply_markup"] == {"inline_keyboard": [[{"text": "Так", "callback_data": "lang:uk"}]]}
    assert fake.texts(USER) == ["Привіт!", "<b>Kita</b> &amp; Schule"]
    assert fake.texts(str(USER)) == fake.texts(USER)


@pytest.mark.parametrize(
    ("kwargs", "description"),
    [
        ({"text": " "}, "Bad Request: message text is empty"),
        ({"text": "😀" * 2049}, "Bad Request: message is too long"),  # 4098 UTF-16 code units
        (
            {
                "text": "x",
                "reply_markup": InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="é" * 33)]]),
            },
            "Bad Request: BUTTON_DATA_INVALID",  # 66 bytes of UTF-8
        ),
        ({"text": "<b>bold", "parse_mode": "HTML"}, "Bad Request: can't parse entities"),
        ({"text": "line<br>break", "parse_mode": "HTML"}, "Bad Request: can't parse entities"),
        ({"text": "<b><i>x</b></i>", "parse_mode": "HTML"}, "Bad Request: can't parse entities"),
    ],
)
async def test_send_message_is_validated_like_telegram(
    fake: FakeBotApi, bot: Bot, kwargs: dict[str, Any], description: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        await bot.send_message(chat_id=USER, **kwargs)
    # PTB strips "Bad Request: " and str.capitalize()s the rest ("Button_data_invalid").
    assert description.removeprefix("Bad Request: ").lower() in caught.value.message.lower()
    assert fake.calls[-1].status == 400
    assert fake.calls[-1].response["description"].startswith(description)
    assert fake.sent() == []


async def test_longest_allowed_text_passes(fake: FakeBotApi, bot: Bot) -> None:
    await bot.send_message(chat_id=USER, text="😀" * 2048)
    await bot.send_message(
        chat_id=USER,
        text="x",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="a" * 64)]]),
    )
    assert len(fake.sent()) == 2


async def test_429_raises_retry_after(fake: FakeBotApi, bot: Bot) -> None:
    fake.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(chat_id=USER, text="eins")
    assert seconds(caught.value.retry_after) == 7
    await bot.send_message(chat_id=USER, text="zwei")  # only the next call failed

    failed = fake.calls[-2]
    assert (failed.method, failed.status) == ("sendMessage", 429)
    assert failed.response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    assert fake.texts(USER) == ["zwei"]


@pytest.mark.parametrize("status", [500, 502])
async def test_5xx_raises_network_error(fake: FakeBotApi, bot: Bot, status: int) -> None:
    fake.fail_next(None, status)
    with pytest.raises(NetworkError) as caught:
        await bot.send_message(chat_id=USER, text="x")
    assert type(caught.value) is NetworkError  # not BadRequest, which is a NetworkError subclass
    assert caught.value.message == {500: "Internal Server Error", 502: "Bad Gateway"}[status]


async def test_403_raises_forbidden(fake: FakeBotApi, bot: Bot) -> None:
    fake.fail_next("sendMessage", 403)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(chat_id=USER, text="x")

    fake.block(USER + 1)
    await bot.send_message(chat_id=USER, text="x")
    with pytest.raises(Forbidden):
        await bot.send_message(chat_id=USER + 1, text="x")


async def test_fail_for_a_period(fake: FakeBotApi, bot: Bot) -> None:
    fake.fail_for(0.15, 429, retry_after=1, method="sendMessage")
    for _ in range(2):
        with pytest.raises(RetryAfter):
            await bot.send_message(chat_id=USER, text="x")
    await bot.send_chat_action(chat_id=USER, action="typing")  # other methods are unaffected
    await asyncio.sleep(0.2)
    await bot.send_message(chat_id=USER, text="x")
    assert [call.status for call in fake.calls if call.method == "sendMessage"] == [429, 429, 200]


async def test_long_polling_returns_when_an_update_arrives(fake: FakeBotApi, bot: Bot) -> None:
    updates = Updates()
    threading.Timer(0.2, fake.push_update, args=(updates.text(USER, "Hallo"),)).start()

    started = time.monotonic()
    [update] = await bot.get_updates(timeout=2)
    assert time.monotonic() - started < 1.5
    assert update.message is not None and update.message.text == "Hallo"

    again = await bot.get_updates(timeout=0)  # not confirmed yet: delivered again
    assert [u.update_id for u in again] == [update.update_id]
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
    assert fake.pending_updates == []


async def test_a_newer_poll_ends_the_older_one_with_409(fake: FakeBotApi, bot: Bot) -> None:
    older = asyncio.create_task(bot.get_updates(timeout=2))
    await asyncio.sleep(0.1)
    async with httpx.AsyncClient() as client:
        newer = await client.post(f"{fake.api_url}/getUpdates", json={"timeout": 0})
    assert newer.json() == {"ok": True, "result": []}
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await older


async def test_webhook_blocks_polling(fake: FakeBotApi, bot: Bot) -> None:
    assert await bot.set_webhook(
        "https://lotse.example/telegram",
        secret_token="s3cr3t_-",
        allowed_updates=["message", "callback_query"],
    )
    assert fake.webhook is not None
    assert fake.webhook["allowed_updates"] == ["message", "callback_query"]
    assert fake.webhook["secret_token"] == "s3cr3t_-"
    info = await bot.get_webhook_info()
    assert info.url == "https://lotse.example/telegram" and info.pending_update_count == 0

    with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
        await bot.get_updates()
    with pytest.raises(BadRequest, match=r"(?i)secret token contains unallowed characters"):
        await bot.set_webhook("https://lotse.example/telegram", secret_token="not allowed!")

    assert await bot.delete_webhook(drop_pending_updates=True)
    assert fake.webhook is None
    assert await bot.get_updates(timeout=0) == ()


async def test_deliver_to_webhook_sends_the_secret(fake: FakeBotApi, bot: Bot) -> None:
    received: list[tuple[str | None, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers.get("X-Telegram-Bot-Api-Secret-Token"), json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, args=(0.02,), daemon=True).start()
    try:
        await bot.set_webhook(f"http://127.0.0.1:{receiver.server_address[1]}/tg", secret_token="abc")
        update = Updates().text(USER, "Привіт")
        assert await fake.adeliver_to_webhook(update) == 200
        assert received == [("abc", update)]
    finally:
        receiver.shutdown()
        receiver.server_close()


async def test_commands_callback_answers_and_chat_actions(fake: FakeBotApi, bot: Bot) -> None:
    await bot.set_my_commands(
        [BotCommand("start", "Почати"), BotCommand("help", "Допомога")], language_code="uk"
    )
    await bot.set_my_commands([BotCommand("start", "Start")])
    assert fake.commands == {
        "uk": [{"command": "start", "description": "Почати"}, {"command": "help", "description": "Допомога"}],
        "": [{"command": "start", "description": "Start"}],
    }
    assert [c.command for c in await bot.get_my_commands(language_code="uk")] == ["start", "help"]
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Start", "uppercase is not allowed")])
    await bot.delete_my_commands(language_code="uk")
    assert list(fake.commands) == [""]

    await bot.answer_callback_query("4385000000000001", text="OK")
    await bot.send_chat_action(chat_id=USER, action="typing")
    assert fake.callback_answers == [{"callback_query_id": "4385000000000001", "text": "OK"}]
    assert fake.chat_actions == [{"chat_id": USER, "action": "typing"}]


async def test_edit_and_delete_messages(fake: FakeBotApi, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Ja", callback_data="yes")]])
    message = await bot.send_message(chat_id=USER, text="Frage?", reply_markup=keyboard)
    edited = await bot.edit_message_reply_markup(chat_id=USER, message_id=message.message_id)
    assert not isinstance(edited, bool) and edited.reply_markup is None
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("Frage?", chat_id=USER, message_id=message.message_id)
    assert await bot.delete_message(chat_id=USER, message_id=message.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(chat_id=USER, message_id=message.message_id)


async def test_wrong_token_and_unknown_method(fake: FakeBotApi) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("654321:WRONG", base_url=f"{fake.base_url}/bot"):
            pass
    assert fake.calls[-1].status == 401
    async with httpx.AsyncClient() as client:
        unknown = await client.post(f"{fake.api_url}/sendCarrierPigeon", data={"chat_id": "1"})
    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_json_get_and_multipart_requests_are_understood(fake: FakeBotApi) -> None:
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    async with httpx.AsyncClient() as client:
        as_json = await client.post(
            f"{fake.api_url}/sendMessage", json={"chat_id": 7, "text": "json", "reply_markup": markup}
        )
        as_query = await client.get(
            f"{fake.api_url}/sendmessage",
            params={"chat_id": "7", "text": "get", "reply_markup": json.dumps(markup)},
        )
        as_multipart = await client.post(
            f"{fake.api_url}/sendMessage",
            data={"chat_id": "7", "text": "multipart"},
            files={"x": ("a.txt", b"abc")},
        )
    assert [r.status_code for r in (as_json, as_query, as_multipart)] == [200, 200, 200]
    assert [p["reply_markup"] for p in fake.sent(chat_id=7)[:2]] == [markup, markup]
    assert fake.texts(7) == ["json", "get", "multipart"]


async def test_latency_delays_and_timestamps_the_response(fake: FakeBotApi, bot: Bot) -> None:
    fake.latency = 0.2
    try:
        sent_at = time.monotonic()
        await bot.send_message(chat_id=USER, text="slow")
        assert time.monotonic() - sent_at >= 0.2
        assert fake.calls[-1].at - sent_at >= 0.2
    finally:
        fake.latency = 0.0


async def test_waiting_for_calls(fake: FakeBotApi, bot: Bot) -> None:
    asyncio.get_running_loop().call_later(
        0.05, lambda: asyncio.ensure_future(bot.send_message(USER, "später"))
    )
    assert await fake.await_for(lambda f: f.texts(USER) == ["später"], timeout=2)
    assert not await fake.await_for(lambda f: len(f.texts(USER)) > 1, timeout=0.05)

    def send_from_a_thread() -> None:
        time.sleep(0.05)
        httpx.post(f"{fake.api_url}/sendMessage", data={"chat_id": str(USER), "text": "aus dem Thread"})

    threading.Thread(target=send_from_a_thread).start()
    waited = await asyncio.to_thread(fake.wait_for, lambda f: len(f.texts(USER)) == 2, 2)
    assert waited


BUILDERS: dict[str, Callable[[Updates], dict[str, Any]]] = {
    "text": lambda u: u.text(USER, "Як записатися на курс німецької?"),
    "command": lambda u: u.command(USER, "/start flyer"),
    "callback": lambda u: u.callback(USER, "lang:uk"),
    "sticker": lambda u: u.sticker(USER),
    "photo": lambda u: u.photo(USER, caption="Bescheid"),
    "voice": lambda u: u.voice(USER),
    "location": lambda u: u.location(USER),
    "document": lambda u: u.document(USER),
    "contact": lambda u: u.contact(USER),
    "edited_text": lambda u: u.edited_text(USER, 3, "виправлено"),
    "group_text": lambda u: u.group_text(4_001_234, USER, "Hallo zusammen"),
}


@pytest.mark.parametrize("kind", list(BUILDERS))
async def test_update_builders_parse_with_ptb(bot: Bot, kind: str) -> None:
    update = Update.de_json(BUILDERS[kind](Updates()), bot)
    assert update.update_id == 100000
    assert update.effective_user is not None and update.effective_user.id == USER
    assert update.effective_user.language_code == "uk"
    chat = update.effective_chat
    assert chat is not None
    if kind == "group_text":
        assert (chat.id, chat.type) == (-4_001_234, "group")
    else:
        assert (chat.id, chat.type) == (USER, "private")
    message = update.effective_message
    assert message is not None
    expected_attribute = {
        "text": "text",
        "command": "entities",
        "callback": "reply_markup",
        "sticker": "sticker",
        "photo": "photo",
        "voice": "voice",
        "location": "location",
        "document": "document",
        "contact": "contact",
        "edited_text": "edit_date",
        "group_text": "text",
    }[kind]
    assert getattr(message, expected_attribute)


def test_update_ids_and_message_ids_increase() -> None:
    updates = Updates(start_update_id=5)
    first, second = updates.text(USER, "a"), updates.command(USER, "/help")
    assert (first["update_id"], second["update_id"]) == (5, 6)
    assert (first["message"]["message_id"], second["message"]["message_id"]) == (1, 2)
    assert second["message"]["entities"] == [{"offset": 0, "length": 5, "type": "bot_command"}]
    callback = updates.callback(USER, "x" * 64)
    assert callback["callback_query"]["id"] != updates.callback(USER, "y")["callback_query"]["id"]
