"""What the pipeline needs from a channel adapter (Telegram, WhatsApp, web chat)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.engine.messages import Button, Template
from bot.storage.deliveries import InboxItem


@dataclass(frozen=True)
class Limits:
    """A push channel's platform limits."""

    per_second: float  # messages per second over all chats
    per_chat_interval: float  # seconds between two messages to one chat (0: no limit)
    max_length: int  # longest text one message may carry
    max_with_buttons: int | None = None  # longest text that may carry buttons, where that is shorter


class Channel(Protocol):
    name: str
    limits: Limits | None  # None: the client pulls its messages (web chat), no sender runs

    async def acknowledge(self, item: InboxItem) -> None:
        """Tell the platform a message or button press arrived (e.g. stop a button's spinner)."""

    async def show_typing(self, chat_id: str) -> None:
        """A typing indicator, for answers that take a moment."""

    async def send(self, chat_id: str, text: str, buttons: Sequence[Button], language: str) -> str | None:
        """Deliver one message part; raise `RetryLater` or `Undeliverable` when that fails.

        Returns the platform's id of the message where its delivery receipts refer to it.
        """

    async def send_template(self, chat_id: str, template: Template, language: str) -> str | None:
        """Deliver an approved template (WhatsApp outside its window); others raise `Undeliverable`."""
