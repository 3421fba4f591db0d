"""From a Cloud API webhook notification to the engine's `Inbound`s and the delivery receipts.

One POST may carry several messages and statuses, for several users. Messages are deduplicated on
WhatsApp's message id (`wamid…`), which Meta keeps when it delivers a notification again. WhatsApp
gives no language hint, so `language_hint` stays empty and the engine detects the language.

Whatever the shape, reading never raises on a well-formed JSON object: a field of the wrong type
makes that one message "unsupported" (the user gets a polite answer) or is skipped, never a 500
that would make Meta deliver the same broken notification for days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from bot.channels import untrusted
from bot.channels.received import Received
from bot.engine.messages import Inbound

CHANNEL = "whatsapp"

_KINDS = {
    "image": "photo",
    "video": "video",
    "document": "document",
    "sticker": "sticker",
    "location": "location",
    "contacts": "contact",
}
_SKIPPED = frozenset({"system", "request_welcome", "ephemeral"})  # nothing the user asked


@dataclass(frozen=True)
class Receipt:
    """A status callback: what happened to a message Lotse sent."""

    message_id: str
    status: str  # sent | delivered | read | failed
    error_code: int | None = None  # for a failure: Meta's code and its words
    error_title: str = ""


@dataclass
class Notification:
    received: list[Received] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)


def read_notification(data: Any, phone_number_id: str) -> Notification:
    """Everything in one webhook body that is addressed to Lotse's phone number."""
    result = Notification()
    if not isinstance(data, dict):
        return result
    for entry in _dicts(data.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if change.get("field") != "messages" or not isinstance(value, dict):
                continue
            metadata = value.get("metadata")
            if isinstance(metadata, dict) and str(metadata.get("phone_number_id", "")) != phone_number_id:
                continue  # another number of the same Meta app
            for message in _dicts(value.get("messages")):
                received = _received(message)
                if received is not None:
                    result.received.append(received)
            for status in _dicts(value.get("statuses")):
                receipt = _receipt(status)
                if receipt is not None:
                    result.receipts.append(receipt)
    return result


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: Any, key: str) -> str:
    return untrusted.text(value.get(key) if isinstance(value, dict) else None)


def _received(message: dict[str, Any]) -> Received | None:
    sender, message_id = untrusted.identifier(message.get("from")), untrusted.identifier(message.get("id"))
    kind = message.get("type") if isinstance(message.get("type"), str) else None
    if sender is None or message_id is None:
        return None  # nobody to answer, or no id to drop a redelivery on
    if kind in _SKIPPED:
        return None
    text, payload, our_kind = "", None, "unsupported"
    if kind == "text":
        text, our_kind = _text(message.get("text"), "body"), "text"
    elif kind == "interactive":
        interactive = message.get("interactive")
        reply = None
        if isinstance(interactive, dict):
            reply = interactive.get("button_reply") or interactive.get("list_reply")
        if isinstance(reply, dict) and _text(reply, "id"):
            text, payload, our_kind = _text(reply, "title"), _text(reply, "id"), "text"
    elif kind == "button":  # a quick-reply button of a template: its text reads like a message
        text, our_kind = _text(message.get("button"), "text"), "text"
    elif kind == "audio":
        audio = message.get("audio")
        our_kind = "voice" if isinstance(audio, dict) and audio.get("voice") else "audio"
    elif kind == "reaction":
        if not _text(message.get("reaction"), "emoji"):
            return None  # a reaction taken back
        our_kind = "reaction"
    elif isinstance(kind, str) and kind in _KINDS:
        our_kind = _KINDS[kind]
        text = _text(message.get(kind), "caption")
    inbound = Inbound(
        channel=CHANNEL,
        user_id=sender,
        text=text,
        payload=payload or None,
        kind=our_kind,
        message_id=message_id,
        sent_at=_timestamp(message.get("timestamp")),
    )
    return Received(inbound, message_id)


def _receipt(status: dict[str, Any]) -> Receipt | None:
    message_id, state = untrusted.identifier(status.get("id")), untrusted.identifier(status.get("status"))
    if message_id is None or state is None:
        return None
    errors = _dicts(status.get("errors"))
    if not errors:
        return Receipt(message_id, state)
    title = _text(errors[0], "title") or _text(errors[0], "message")
    return Receipt(message_id, state, untrusted.number(errors[0].get("code")), title[:150])


def _timestamp(value: Any) -> dt.datetime | None:
    try:
        seconds = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's 1e999 reads as infinity
        return None
    if not 0 < seconds < 2**33:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
