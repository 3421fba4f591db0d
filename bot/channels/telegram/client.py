"""Sending through the Bot API with python-telegram-bot's `Bot`, and what Lotse registers there.

Lotse uses `Bot` directly rather than `telegram.ext.Application`: the application's update queue
lives in memory, while Lotse's inbox is durable. Texts go out without a parse mode, so whatever a
user wrote (and whatever the content says) is shown literally and can never become markup.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Sequence

from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ChatAction
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.request import HTTPXRequest

from bot.channels.telegram.flood import FloodWait
from bot.engine.messages import Button, Template
from bot.i18n.catalogs import N_, Catalogs, Translator
from bot.i18n.languages import LANGUAGES
from bot.pipeline.channel import Limits
from bot.pipeline.errors import RetryLater, Undeliverable
from bot.storage.deliveries import InboxItem

log = logging.getLogger(__name__)

CALLBACK_DATA_LIMIT = 64  # bytes, Bot API
MESSAGE_LIMIT = 4096
COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", N_("Neu beginnen")),
    ("help", N_("Hilfe und Themen")),
    ("menu", N_("Themen")),
    ("language", N_("Sprache ändern")),
    ("town", N_("Ort ändern")),
    ("privacy", N_("Datenschutz")),
    ("mydata", N_("Meine gespeicherten Daten")),
    ("delete", N_("Meine Daten löschen")),
)
DEFAULT_COMMAND_LANGUAGE = "en"  # for Telegram clients in a language Lotse does not speak


def webhook_secret(token: str, configured: str | None) -> str:
    """The configured secret, or one derived from the token, stable across restarts."""
    if configured:
        return configured
    return hmac.new(token.encode(), b"lotse-telegram-webhook", hashlib.sha256).hexdigest()


def keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    """Buttons as an inline keyboard: two per row when the titles are short, else one."""
    usable = []
    for button in buttons:
        if len(button.payload.encode()) > CALLBACK_DATA_LIMIT:
            log.error("button payload over %s bytes dropped: %s", CALLBACK_DATA_LIMIT, button.payload[:20])
            continue
        usable.append(InlineKeyboardButton(button.title[:64], callback_data=button.payload))
    if not usable:
        return None
    width = 2 if len(usable) > 3 and all(len(b.text) <= 18 for b in usable) else 1
    return InlineKeyboardMarkup([usable[i : i + width] for i in range(0, len(usable), width)])


class TelegramChannel:
    name = "telegram"

    def __init__(
        self,
        token: str,
        api_base_url: str = "https://api.telegram.org",
        limits: Limits | None = None,
    ) -> None:
        self.limits: Limits | None = limits or Limits(
            per_second=30, per_chat_interval=1.0, max_length=MESSAGE_LIMIT
        )
        request = HTTPXRequest(connection_pool_size=32, read_timeout=10, write_timeout=10, connect_timeout=5)
        self.bot = Bot(
            token,
            base_url=f"{api_base_url.rstrip('/')}/bot",
            request=request,
            get_updates_request=HTTPXRequest(read_timeout=40, connect_timeout=5),
        )
        self.flood = FloodWait()

    async def start(self) -> None:
        await self.bot.initialize()

    async def stop(self) -> None:
        await self.bot.shutdown()

    async def acknowledge(self, item: InboxItem) -> None:
        callback_id = item.meta.get("callback_id")
        if callback_id and not self.flood.remaining():  # without it the pressed button keeps spinning
            try:
                await self.bot.answer_callback_query(str(callback_id))
            except RetryAfter as exc:
                self.flood.told(retry_seconds(exc))
                raise

    async def show_typing(self, chat_id: str) -> None:
        if self.flood.remaining():
            return  # flood control: a courtesy call now would only prolong the wait
        try:
            await self.bot.send_chat_action(int(chat_id), ChatAction.TYPING)
        except RetryAfter as exc:
            self.flood.told(retry_seconds(exc))
            raise

    async def send(self, chat_id: str, text: str, buttons: Sequence[Button], language: str) -> str | None:
        while wait := self.flood.remaining():  # told by a courtesy call the sender did not see
            await asyncio.sleep(wait)
        try:
            await self.bot.send_message(
                chat_id=int(chat_id),
                text=text,
                reply_markup=keyboard(buttons),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except RetryAfter as exc:
            self.flood.told(retry_seconds(exc))
            raise RetryLater(str(exc), retry_after=retry_seconds(exc)) from exc
        except (Forbidden, ChatMigrated, InvalidToken, BadRequest) as exc:
            raise Undeliverable(f"{type(exc).__name__}: {exc}") from exc
        except NetworkError as exc:  # 5xx, timeouts, connection refused
            raise RetryLater(f"{type(exc).__name__}: {exc}") from exc
        return None  # Telegram sends no delivery receipts to bots

    async def send_template(self, chat_id: str, template: Template, language: str) -> str | None:
        raise Undeliverable("Telegram has no templates: a bot may always write to its users")

    async def register_commands(self, catalogs: Catalogs) -> None:
        """The command menu in every language Lotse speaks, and English for all others."""
        for code in (None, *LANGUAGES):
            _ = Translator(catalogs, code or DEFAULT_COMMAND_LANGUAGE)._
            commands = [BotCommand(name, _(description)) for name, description in COMMANDS]
            await self.bot.set_my_commands(commands, language_code=code)

    async def use_webhook(self, url: str, secret: str) -> None:
        await self.bot.set_webhook(
            url=url,
            secret_token=secret,
            allowed_updates=["message", "edited_message", "callback_query"],
            max_connections=40,
        )

    async def use_polling(self) -> None:
        await self.bot.delete_webhook(drop_pending_updates=False)


def retry_seconds(exc: RetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
