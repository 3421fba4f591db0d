"""Builders of Update dicts shaped like the ones Telegram sends to a webhook or returns from getUpdates.

Tests feed these to Lotse's Telegram adapter (through `FakeBotApi.push_update`, a webhook POST, or
`telegram.Update.de_json`). They carry the fields real updates carry, not just the ones a parser needs,
so that an adapter reading e.g. `from.language_code` or `chat.type` is tested against reality.

Conventions, as in Telegram: in a private chat `chat.id == from.id` and `chat.type == "private"`;
`update_id` increases by one per update; message ids increase per chat; dates are unix seconds.
"""

from __future__ import annotations

import time
from typing import Any

from tests.fakes.telegram import BOT_FIRST_NAME, BOT_USERNAME

JsonDict = dict[str, Any]

# Reutlingen, Marktplatz: a location inside the example district.
REUTLINGEN = (48.4914, 9.2043)


class Updates:
    """Hands out updates with increasing update_id, message_id (per chat) and callback query ids."""

    def __init__(
        self, start_update_id: int = 100000, *, bot_id: int = 123456, bot_username: str = BOT_USERNAME
    ) -> None:
        self._next_update_id = start_update_id
        self._message_ids: dict[int, int] = {}
        self._serial = 0
        self.bot = {"id": bot_id, "is_bot": True, "first_name": BOT_FIRST_NAME, "username": bot_username}

    # ------------------------------------------------------------------------------- plumbing

    def _update(self, kind: str, payload: JsonDict) -> JsonDict:
        update_id = self._next_update_id
        self._next_update_id += 1
        return {"update_id": update_id, kind: payload}

    def _message_id(self, chat_id: int) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def _file_ids(self, prefix: str) -> JsonDict:
        """file_id / file_unique_id in Telegram's style; unique per builder, stable across runs."""
        n = self._next_serial()
        return {"file_id": f"{prefix}AgADBAADq7UxG{n:08d}", "file_unique_id": f"AQAD{n:08d}"}

    @staticmethod
    def user(user_id: int, language_code: str = "uk", first_name: str = "Olena") -> JsonDict:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language_code}

    @staticmethod
    def private_chat(user_id: int, first_name: str = "Olena") -> JsonDict:
        return {"id": user_id, "first_name": first_name, "type": "private"}

    def _private_message(
        self, user_id: int, language_code: str, first_name: str = "Olena", **content: Any
    ) -> JsonDict:
        return {
            "message_id": self._message_id(user_id),
            "from": self.user(user_id, language_code, first_name),
            "chat": self.private_chat(user_id, first_name),
            "date": int(time.time()),
            **content,
        }

    # -------------------------------------------------------------------------------- messages

    def text(self, user_id: int, text: str, language_code: str = "uk", first_name: str = "Olena") -> JsonDict:
        """A plain text message in the private chat with the bot."""
        return self._update("message", self._private_message(user_id, language_code, first_name, text=text))

    def command(self, user_id: int, text: str, language_code: str = "uk") -> JsonDict:
        """A command such as "/start" or "/start ref-flyer": the bot_command entity covers the first word."""
        entity = {"offset": 0, "length": len(text.split(maxsplit=1)[0]) if text else 0, "type": "bot_command"}
        message = self._private_message(user_id, language_code, text=text, entities=[entity])
        return self._update("message", message)

    def callback(
        self,
        user_id: int,
        data: str,
        language_code: str = "uk",
        *,
        message_id: int | None = None,
        message_text: str = "Оберіть, будь ласка:",
    ) -> JsonDict:
        """A button press: callback_query with the bot's message (and keyboard) it was attached to.

        Pass `message_id` (e.g. of a message the fake recorded) to attach it to a real bot message.
        """
        message = {
            "message_id": message_id if message_id is not None else self._message_id(user_id),
            "from": dict(self.bot),
            "chat": self.private_chat(user_id),
            "date": int(time.time()) - 5,
            "text": message_text,
            "reply_markup": {"inline_keyboard": [[{"text": data, "callback_data": data}]]},
        }
        query = {
            "id": str(4_385_000_000_000_000_000 + user_id * 1000 + self._next_serial()),
            "from": self.user(user_id, language_code),
            "message": message,
            "chat_instance": str(-7_000_000_000_000_000_000 + user_id),
            "data": data,
        }
        return self._update("callback_query", query)

    def sticker(self, user_id: int, language_code: str = "uk") -> JsonDict:
        sticker = {
            **self._file_ids("CAACAgIAAxkBAAI"),
            "width": 512,
            "height": 512,
            "emoji": "👍",
            "set_name": "HotCherry",
            "is_animated": False,
            "is_video": False,
            "type": "regular",
            "file_size": 22_750,
        }
        return self._update("message", self._private_message(user_id, language_code, sticker=sticker))

    def photo(self, user_id: int, caption: str | None = None, language_code: str = "uk") -> JsonDict:
        """A photo: Telegram sends several sizes of the same picture, smallest first."""
        sizes = []
        for width, height, size in ((90, 67, 1_302), (320, 240, 16_823), (800, 600, 71_448)):
            sizes.append(
                {**self._file_ids("AgACAgIAAxkBAAI"), "width": width, "height": height, "file_size": size}
            )
        content: JsonDict = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        return self._update("message", self._private_message(user_id, language_code, **content))

    def voice(self, user_id: int, language_code: str = "uk") -> JsonDict:
        voice = {
            **self._file_ids("AwACAgIAAxkBAAI"),
            "duration": 4,
            "mime_type": "audio/ogg",
            "file_size": 14_982,
        }
        return self._update("message", self._private_message(user_id, language_code, voice=voice))

    def location(self, user_id: int, language_code: str = "uk") -> JsonDict:
        latitude, longitude = REUTLINGEN
        location = {"latitude": latitude, "longitude": longitude}
        return self._update("message", self._private_message(user_id, language_code, location=location))

    def document(self, user_id: int, language_code: str = "uk") -> JsonDict:
        document = {
            **self._file_ids("BQACAgIAAxkBAAI"),
            "file_name": "Bescheid_BAMF.pdf",
            "mime_type": "application/pdf",
            "file_size": 284_113,
        }
        return self._update("message", self._private_message(user_id, language_code, document=document))

    def contact(self, user_id: int, language_code: str = "uk") -> JsonDict:
        """The user shares their own contact (as a "share my phone number" button does)."""
        contact = {"phone_number": "+491701234567", "first_name": "Olena", "user_id": user_id}
        return self._update("message", self._private_message(user_id, language_code, contact=contact))

    def edited_text(self, user_id: int, message_id: int, text: str, language_code: str = "uk") -> JsonDict:
        """The user edited an earlier message: same message_id, original date, and an edit_date."""
        now = int(time.time())
        message = {
            "message_id": message_id,
            "from": self.user(user_id, language_code),
            "chat": self.private_chat(user_id),
            "date": now - 30,
            "edit_date": now,
            "text": text,
        }
        return self._update("edited_message", message)

    def group_text(self, group_id: int, user_id: int, text: str, language_code: str = "uk") -> JsonDict:
        """A message in a basic group the bot was added to; group ids are negative."""
        chat_id = -abs(group_id)
        message = {
            "message_id": self._message_id(chat_id),
            "from": self.user(user_id, language_code),
            "chat": {"id": chat_id, "title": "Deutschkurs Pfullingen", "type": "group"},
            "date": int(time.time()),
            "text": text,
        }
        return self._update("message", message)
