"""WhatsApp as a pipeline channel: sends through the Graph API, marks what arrived as read."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx

from bot.channels.whatsapp.convert import CHANNEL
from bot.channels.whatsapp.graph import GraphClient, GraphError, as_delivery_error
from bot.channels.whatsapp.layout import (
    INTERACTIVE_BODY_LIMIT,
    TEXT_LIMIT,
    Labels,
    messages_for,
    template_message,
)
from bot.engine.messages import Button, Template
from bot.i18n.catalogs import N_, Translator
from bot.live.editions import Editions
from bot.pipeline.channel import Limits
from bot.storage.deliveries import InboxItem

log = logging.getLogger(__name__)

OPEN_LIST = N_("Auswählen")  # on the button that opens a list of choices (20 characters at most)
MORE_CHOICES = N_("Weitere Möglichkeiten:")


class WhatsAppChannel:
    name = CHANNEL

    def __init__(self, client: GraphClient, editions: Editions, rate: float = 80.0) -> None:
        self.client = client
        self.editions = editions
        # Cloud API throughput is 80 messages a second per number; WhatsApp sets no fixed gap per chat
        # but answers bursts to one user with error 131056, which the sender waits out.
        self.limits: Limits | None = Limits(
            per_second=rate,
            per_chat_interval=0.0,
            max_length=TEXT_LIMIT,
            max_with_buttons=INTERACTIVE_BODY_LIMIT,
        )

    async def close(self) -> None:
        await self.client.close()

    async def acknowledge(self, item: InboxItem) -> None:
        """Mark the message as read, so the user sees that it arrived (a reaction cannot be)."""
        message_id = item.inbound.message_id
        if message_id and item.inbound.kind != "reaction":
            await self.client.mark_read(message_id)

    async def show_typing(self, chat_id: str) -> None:
        """Nothing: in the Cloud API typing is a flag on the read mark, and `acknowledge` sent that already."""
        return None

    async def send(self, chat_id: str, text: str, buttons: Sequence[Button], language: str) -> str | None:
        tr = Translator(self.editions.catalogs, language)
        labels = Labels(open_list=tr._(OPEN_LIST), more=tr._(MORE_CHOICES))
        last = None
        for message in messages_for(text, buttons, labels):
            last = await self._send(chat_id, message)
        return last

    async def send_template(self, chat_id: str, template: Template, language: str) -> str | None:
        return await self._send(chat_id, template_message(template))

    async def _send(self, chat_id: str, message: dict[str, object]) -> str:
        try:
            return await self.client.send(chat_id, message)
        except (GraphError, httpx.HTTPError) as exc:
            raise as_delivery_error(exc) from exc
