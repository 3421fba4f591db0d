"""From a Telegram `Update` to the engine's `Inbound`.

Deduplication is on the update id, which Telegram keeps when it redelivers an update (to a
webhook that did not answer, or to getUpdates before the offset was confirmed).
"""

from __future__ import annotations

from typing import Any

from telegram import CallbackQuery, Chat, InlineKeyboardButton, Message, Update, User

from bot.channels import untrusted
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
    """The engine's view of an update, or None for updates Lotse does not answer or cannot read.

    python-telegram-bot builds its objects without checking field types, so every field read here
    goes through `untrusted`: an update with a wrong type where an id or a text belongs is not
    answered rather than raising, which would make long polling fetch the same update forever.
    """
    update_id = untrusted.number(update.update_id)
    if update_id is None:
        return None
    external_id = f"u{update_id}"
    if isinstance(update.callback_query, CallbackQuery):
        return _button_press(update.callback_query, external_id)
    message = update.message or update.edited_message
    if not isinstance(message, Message) or not isinstance(message.chat, Chat):
        return None  # channel posts, membership changes, polls...: nothing to answer
    chat_id = untrusted.number(message.chat.id)
    if chat_id is None:
        return None
    sender = message.from_user if isinstance(message.from_user, User) else None
    language = untrusted.language(sender.language_code) if sender is not None else None
    if message.chat.type != "private":
        # Nothing of what was written in a group is stored: Lotse only says where it works.
        inbound = Inbound(CHANNEL, str(chat_id), kind="group", message_id=external_id, language_hint=language)
        return Received(inbound, external_id) if _addressed_to_bot(message) else None
    kind, text = "text", untrusted.text(message.text)
    if not text:
        kind = next((name for attr, name in _ATTACHMENTS if getattr(message, attr, None)), "unsupported")
        text = untrusted.text(message.caption)
    return Received(
        Inbound(
            channel=CHANNEL,
            user_id=str(chat_id),
            text=text,
            kind=kind,
            message_id=external_id,
            language_hint=language,
        ),
        external_id,
        {"edited": True} if update.edited_message is not None else {},
    )


def _button_press(query: CallbackQuery, external_id: str) -> Received | None:
    sender = query.from_user if isinstance(query.from_user, User) else None
    chat = getattr(query.message, "chat", None)
    chat_id = untrusted.number(chat.id) if isinstance(chat, Chat) else None
    if chat_id is None and sender is not None:
        chat_id = untrusted.number(sender.id)
    if chat_id is None:
        return None
    data = untrusted.text(query.data)
    return Received(
        Inbound(
            channel=CHANNEL,
            user_id=str(chat_id),
            text=_button_title(query.message, data),
            payload=data,
            message_id=external_id,
            language_hint=untrusted.language(sender.language_code) if sender is not None else None,
        ),
        external_id,
        {"callback_id": untrusted.text(query.id)},
    )


def _button_title(message: Any, data: str) -> str:
    """The title of the pressed button, so the transcript shows what the user chose."""
    markup = getattr(message, "reply_markup", None)
    rows = getattr(markup, "inline_keyboard", ())
    for row in rows if isinstance(rows, tuple | list) else ():
        for button in row if isinstance(row, tuple | list) else ():
            if isinstance(button, InlineKeyboardButton) and button.callback_data == data:
                return untrusted.text(button.text)
    return ""


def _addressed_to_bot(message: Message) -> bool:
    """In groups, answer commands and the moment Lotse is added, not every message."""
    if untrusted.text(message.text).startswith("/"):
        return True
    members = message.new_chat_members
    if not isinstance(members, tuple | list):
        return False
    return any(isinstance(m, User) and m.is_bot is True for m in members)
