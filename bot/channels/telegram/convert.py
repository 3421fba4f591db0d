"""From a Telegram `Update` to the engine's `Inbound`.

Deduplication is on the update id, which Telegram keeps when it redelivers an update (to a
webhook that did not answer, or to getUpdates before the offset was confirmed).
"""

from __future__ import annotations

from typing import Any

from telegram import Message, Update

from bot.channels.received import Received
from bot.engine.messages import Inbound

CHANNEL = "telegram"

# The attribute of a Message that carries each kind, in the engine's names.
_ATTACHMENTS: tuple[tuple[str, str], ...] = (
    ("sticker", "sticker"),
    ("photo", "photo"),
    ("voice", "voice"),
    ("audio", "audio"),
    ("video_note", "video_note"),
    ("video", "video"),
    ("animation", "animation"),
    ("document", "document"),
    ("location", "location"),
    ("venue", "location"),
    ("contact", "contact"),
)


def to_inbound(update: Update) -> Received | None:
    """The engine's view of an update, or None for updates Lotse does not answer."""
    external_id = f"u{update.update_id}"
    query = update.callback_query
    if query is not None:
        chat_id = query.message.chat.id if query.message is not None else query.from_user.id
        return Received(
            Inbound(
                channel=CHANNEL,
                user_id=str(chat_id),
                text=_button_title(query.message, query.data) if query.message else "",
                payload=query.data or "",
                message_id=external_id,
                language_hint=query.from_user.language_code,
            ),
            external_id,
            {"callback_id": query.id},
        )
    message = update.message or update.edited_message
    if message is None:
        return None  # channel posts, membership changes, polls...: nothing to answer
    language = message.from_user.language_code if message.from_user else None
    if message.chat.type != "private":
        # Nothing of what was written in a group is stored: Lotse only says where it works.
        inbound = Inbound(
            CHANNEL, str(message.chat.id), kind="group", message_id=external_id, language_hint=language
        )
        return Received(inbound, external_id) if _addressed_to_bot(message) else None
    kind, text = "text", message.text or ""
    if not message.text:
        kind = next((name for attr, name in _ATTACHMENTS if getattr(message, attr)), "unsupported")
        text = message.caption or ""
    return Received(
        Inbound(
            channel=CHANNEL,
            user_id=str(message.chat.id),
            text=text,
            kind=kind,
            message_id=external_id,
            language_hint=language,
        ),
        external_id,
        {"edited": True} if update.edited_message is not None else {},
    )


def _button_title(message: Any, data: str | None) -> str:
    """The title of the pressed button, so the transcript shows what the user chose."""
    markup = getattr(message, "reply_markup", None)
    for row in getattr(markup, "inline_keyboard", ()) or ():
        for button in row:
            if button.callback_data == data:
                return str(button.text)
    return ""


def _addressed_to_bot(message: Message) -> bool:
    """In groups, answer commands and the moment Lotse is added, not every message."""
    if message.text and message.text.startswith("/"):
        return True
    return bool(message.new_chat_members and any(m.is_bot for m in message.new_chat_members))
