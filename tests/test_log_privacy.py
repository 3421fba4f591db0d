"""The server's log carries no message text, no raw user id, no phone number and no secret.

A real `lotse serve` runs at its most verbose level (LOTSE_LOG_LEVEL=debug, access log on) with
Telegram and WhatsApp connected to the fakes. People write distinctive texts in German, Arabic,
Russian and Ukrainian, send stickers, press buttons; one chat has blocked the bot, one is refused by
the Bot API with 400, webhooks are forged and the WhatsApp handshake is made. Then the whole log is
read: none of the texts, ids, names, numbers or secrets may be in it, while the keyed pseudonyms of
the failing chats must be (the log names whom a failure concerns, and is not simply empty).

The unit tests below pin the pseudonym and the two lines of defence in the formatter.
"""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.keys import KeyFileError
from bot.logs import configure, redact, withheld_traceback
from bot.pseudonyms import load_key, pseudonym
from tests.fakes.telegram import FakeBotApi
from tests.fakes.telegram_updates import Updates
from tests.fakes.whatsapp import FakeGraphApi
from tests.fakes.whatsapp_payloads import sign
from tests.harness import WEBHOOK_SECRET, WHATSAPP_VERIFY_TOKEN, ServeProcess, free_port

# A token in the real shape, so that the pattern-based scrubbing would have something to catch too.
TOKEN = "7301234567:AAHk-Kaffeetasse_SecretPart0123456789xyz"
LOG_KEY = "district-log-key-for-the-privacy-test"

TALKER = 5712345678  # Telegram chat ids, in the range real ones have
BLOCKED = 5798765432  # has blocked the bot: 403
REFUSED = 5723456789  # the Bot API answers 400 ("chat not found")
FIRST_NAME = "Walpurgis-Zq"
WA_NUMBER = "4915112345678"
WA_NAME = "Ottokar-Wq"

TELEGRAM_TEXTS = (
    "Kaffeetasse-4417: wo finde ich einen Sportverein für mein Kind?",
    "أين أجد دورة سباحة للنساء؟ فنجان-القهوة",
    "Где курсы немецкого языка? Самовар-8821",
)
WHATSAPP_TEXTS = (
    "Kaffeetasse-4417 Kita Platz in Metzingen bitte",
    "متى تفتح الاستشارة؟ إبريق-الشاي",
    "Де курси німецької мови? Хліборізка-5532",
)
# What no line may contain. The marker words are checked on their own, so that a text cut short or
# quoted in part is caught as well as a whole one.
MARKERS = ("Kaffeetasse", "فنجان", "Самовар", "إبريق", "Хліборізка", "4417", "8821", "5532")


def personal_and_secret(graph: FakeGraphApi) -> list[str]:
    return [
        *TELEGRAM_TEXTS,
        *WHATSAPP_TEXTS,
        *MARKERS,
        str(TALKER),
        str(BLOCKED),
        str(REFUSED),
        FIRST_NAME,
        WA_NUMBER,
        WA_NUMBER[2:],  # without the country code
        WA_NAME,
        TOKEN,
        TOKEN.split(":", 1)[1],
        WEBHOOK_SECRET,
        WHATSAPP_VERIFY_TOKEN,
        graph.access_token,
        graph.app_secret,
        LOG_KEY,
    ]


@pytest.fixture
def telegram_api() -> Iterator[FakeBotApi]:
    with FakeBotApi(token=TOKEN) as api:
        yield api


@pytest.fixture
def graph_api() -> Iterator[FakeGraphApi]:
    with FakeGraphApi() as graph:
        yield graph


def test_the_server_log_names_no_one_and_quotes_nothing(
    telegram_api: FakeBotApi, graph_api: FakeGraphApi, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'lotse.db'}",
        "LOTSE_VAR_DIR": str(tmp_path),
        "LOTSE_LOG_LEVEL": "debug",
        "LOTSE_LOG_KEY": LOG_KEY,
        "LOTSE_RELOAD_INTERVAL": "0",
        "LOTSE_TRANSLATION": "none",
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": telegram_api.base_url,
        "TELEGRAM_WEBHOOK_URL": f"{base}/telegram/webhook",
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TELEGRAM_CHAT_INTERVAL": "0",
        "WHATSAPP_TOKEN": graph_api.access_token,
        "WHATSAPP_PHONE_NUMBER_ID": graph_api.phone_number_id,
        "WHATSAPP_APP_SECRET": graph_api.app_secret,
        "WHATSAPP_VERIFY_TOKEN": WHATSAPP_VERIFY_TOKEN,
        "WHATSAPP_API_BASE_URL": graph_api.base_url,
        "WHATSAPP_API_VERSION": graph_api.version,
    }
    env.pop("LOTSE_DEBUG", None)
    log_path = tmp_path / "server.log"
    server = ServeProcess(env, port, log_path)
    updates = Updates(start_update_id=int(time.time() * 1000) % 10**9)
    webhook = f"{base}/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    graph_api.configure_webhook(f"{base}/whatsapp/webhook", graph_api.app_secret)
    try:
        server.start()
        with httpx.Client(timeout=30) as client:

            def post(update: dict[str, object]) -> None:
                assert client.post(webhook, json=update, headers=headers).status_code == 200

            # The first message the bot sends goes to REFUSED, and Telegram refuses it with 400.
            telegram_api.fail_next("sendMessage", 400, description="Bad Request: chat not found")
            post(updates.text(REFUSED, TELEGRAM_TEXTS[0], "de", FIRST_NAME))
            assert telegram_api.wait_for(lambda api: _sends_to(api, REFUSED) > 0, timeout=60)

            telegram_api.block(BLOCKED)
            post(updates.text(BLOCKED, TELEGRAM_TEXTS[0], "de", FIRST_NAME))
            post(updates.command(TALKER, "/start", "de"))
            for text, language in zip(TELEGRAM_TEXTS, ("de", "ar", "ru"), strict=True):
                post(updates.text(TALKER, text, language, FIRST_NAME))
            post(updates.sticker(TALKER, "ru"))
            post(updates.callback(TALKER, "town:reutlingen", "ru"))

            # forged and broken webhook calls
            forged = client.post(
                webhook,
                json=updates.text(TALKER, TELEGRAM_TEXTS[0]),
                headers={"X-Telegram-Bot-Api-Secret-Token": "x"},
            )
            assert forged.status_code == 403
            broken = client.post(webhook, content=b'{"update_id": "Kaffeetasse-4417', headers=headers)
            assert broken.status_code == 400

        for text in WHATSAPP_TEXTS:
            assert graph_api.user_sends(graph_api.webhooks.text(WA_NUMBER, text, WA_NAME)) == 200
        assert graph_api.user_sends(graph_api.webhooks.sticker(WA_NUMBER, name=WA_NAME)) == 200
        fake_body = json.dumps(
            graph_api.webhooks.text(WA_NUMBER, WHATSAPP_TEXTS[0], WA_NAME).payload
        ).encode()
        wrong = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(fake_body, "not-the-secret")}
        assert graph_api.post_raw(fake_body, wrong) == 403
        assert (
            graph_api.verify("subscribe", WHATSAPP_VERIFY_TOKEN, "challenge-Kaffeetasse-4417").status_code
            == 200
        )
        assert graph_api.verify("subscribe", "guessed-token", "challenge").status_code == 403

        # Every message answered (stickers too), the blocked chat tried: the work has been done.
        _wait_until_drained(base, timeout=120)
        assert len(telegram_api.texts(TALKER)) >= 5 and _sends_to(telegram_api, BLOCKED) > 0
        assert len(graph_api.texts(WA_NUMBER)) >= 4
        key = LOG_KEY.encode()
        expected = [pseudonym("telegram", REFUSED, key), pseudonym("telegram", BLOCKED, key)]
        deadline = time.monotonic() + 60
        while not all(name in log_path.read_text(errors="replace") for name in expected):
            assert time.monotonic() < deadline, f"no log line names the failing chats:\n{server.log_tail()}"
            time.sleep(0.2)
    finally:
        server.stop()

    log = log_path.read_text(errors="replace")
    found = [value for value in personal_and_secret(graph_api) if value in log]
    assert found == [], f"the server log contains {found}"
    for name in expected:
        assert name in log
    # the access log is written only at debug, and Lotse's own lines name people by pseudonym
    assert "/telegram/webhook" in log and " INFO bot.pipeline.worker: inbox row" in log


def _wait_until_drained(base: str, timeout: float) -> None:
    """Until nothing is pending in inbox and outbox, as /healthz counts them."""
    deadline = time.monotonic() + timeout
    while True:
        pending = httpx.get(f"{base}/healthz", timeout=10).json()["pending"]
        if pending == {"inbox": 0, "outbox": 0}:
            return
        assert time.monotonic() < deadline, f"still pending after {timeout} s: {pending}"
        time.sleep(0.2)


def _sends_to(api: FakeBotApi, chat_id: int) -> int:
    return sum(
        1 for call in api.calls if call.method == "sendMessage" and call.params.get("chat_id") == chat_id
    )


# ------------------------------------------------------------------------------------------ units


def test_a_pseudonym_is_stable_under_its_key_and_reveals_nothing() -> None:
    key, other = b"k" * 32, b"o" * 32
    name = pseudonym("whatsapp", WA_NUMBER, key)
    assert name == pseudonym("whatsapp", WA_NUMBER, key)
    assert name.startswith("u:") and WA_NUMBER not in name and WA_NUMBER[-6:] not in name
    assert name != pseudonym("whatsapp", WA_NUMBER, other)
    assert name != pseudonym("telegram", WA_NUMBER, key)
    assert pseudonym("telegram", TALKER, key) == pseudonym("telegram", str(TALKER), key)


def test_without_a_configured_key_one_is_kept_in_var_readable_only_by_lotse(tmp_path: Path) -> None:
    first = load_key("", tmp_path)
    assert load_key("", tmp_path) == first  # the same pseudonyms after a restart
    assert stat.S_IMODE((tmp_path / "log.key").stat().st_mode) == 0o600
    assert load_key(LOG_KEY, tmp_path) == LOG_KEY.encode()
    with pytest.raises(KeyFileError):
        load_key("short", tmp_path)


def test_tracebacks_keep_the_place_and_type_but_not_the_message() -> None:
    first, second = f"{MARKERS[0]} from chat {TALKER}", f"while storing {MARKERS[2]}"
    try:
        try:
            raise ValueError(first)  # source lines are quoted, so the texts come from variables
        except ValueError as exc:
            raise RuntimeError(second) from exc
    except RuntimeError as exc:
        text = withheld_traceback(exc)
    assert "Kaffeetasse" not in text and "Самовар" not in text and "5712345678" not in text
    assert "builtins.ValueError" in text and "builtins.RuntimeError" in text
    assert "test_tracebacks_keep_the_place_and_type_but_not_the_message" in text
    assert "Connect call failed" in withheld_traceback(ConnectionRefusedError(111, "Connect call failed"))


def test_the_formatter_blanks_out_secrets_tokens_and_numbers() -> None:
    line = f"GET https://api.telegram.org/bot{TOKEN}/getMe for +{WA_NUMBER} with app-secret-xyz"
    scrubbed = redact(line, ["app-secret-xyz"])
    assert TOKEN.split(":")[1] not in scrubbed and WA_NUMBER not in scrubbed and "app-secret" not in scrubbed
    assert redact("row 12 took 0.25 s for u:1234567890ab") == "row 12 took 0.25 s for u:1234567890ab"


def test_libraries_below_warning_are_not_written_whatever_the_level(tmp_path: Path) -> None:
    stream = io.StringIO()
    settings = Settings(log_level="debug", log_key=LOG_KEY, var_dir=tmp_path, telegram_token=TOKEN)
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    hook = sys.excepthook
    try:
        configure(settings, stream)
        logging.getLogger("httpx").info("HTTP Request: POST %s", f"https://api.telegram.org/bot{TOKEN}/x")
        logging.getLogger("telegram.Bot").debug("parameters {'text': 'Kaffeetasse-4417'}")
        logging.getLogger("bot.pipeline.worker").debug("inbox row 1 answered")
        logging.getLogger("bot.pipeline.sender").warning("token %s", TOKEN)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        logging.captureWarnings(False)
        sys.excepthook = hook
        logging.getLogger("bot").setLevel(logging.NOTSET)
        logging.getLogger("bot.live").setLevel(logging.NOTSET)
    written = stream.getvalue()
    assert "inbox row 1 answered" in written
    assert "Kaffeetasse" not in written and "HTTP Request" not in written and TOKEN not in written


async def test_database_errors_do_not_quote_the_values_of_the_statement(database: AsyncEngine) -> None:
    text = MARKERS[0] + "-unique"
    async with database.connect() as connection:
        await connection.execute(sa.text("CREATE TEMPORARY TABLE said (words VARCHAR(80) UNIQUE)"))
        await connection.execute(sa.text("INSERT INTO said (words) VALUES (:words)"), {"words": text})
        with pytest.raises(IntegrityError) as raised:
            await connection.execute(sa.text("INSERT INTO said (words) VALUES (:words)"), {"words": text})
        await connection.rollback()
    # hide_parameters keeps SQLAlchemy from listing the values; PostgreSQL's own DETAIL still quotes
    # the duplicate key in the message, which is why logged tracebacks withhold every message.
    assert "parameters hidden" in str(raised.value)
    assert MARKERS[0] not in withheld_traceback(raised.value)
