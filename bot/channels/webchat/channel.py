"""The web chat as a pipeline channel: a pull channel, whose client fetches its messages."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from bot.engine.messages import Button, Template
from bot.pipeline.channel import Limits
from bot.pipeline.errors import Undeliverable
from bot.storage.deliveries import InboxItem

CHANNEL = "web"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,128}$")


def chat_id_for(token: str | None) -> str | None:
    """The stored chat id of a browser session: a hash, so the database cannot open the session."""
    if not token or not _TOKEN.match(token):
        return None
    return hashlib.sha256(token.encode()).hexdigest()[:40]


class WebChatChannel:
    name = CHANNEL
    limits: Limits | None = None

    async def acknowledge(self, item: InboxItem) -> None:
        return None

    async def show_typing(self, chat_id: str) -> None:
        return None  # the page shows its own typing indicator

    async def send(self, chat_id: str, text: str, buttons: Sequence[Button], language: str) -> str | None:
        raise Undeliverable("web chat messages are fetched by the browser, not pushed")

    async def send_template(self, chat_id: str, template: Template, language: str) -> str | None:
        raise Undeliverable("the web chat has no templates: it may always write")
