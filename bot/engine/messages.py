"""What flows in and out of the engine, independent of any channel."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Inbound:
    """One user message as a channel adapter hands it over."""

    channel: str
    user_id: str
    text: str = ""
    payload: str | None = None  # button payload, when a button was pressed
    message_id: str | None = None  # the channel's own id, for deduplication
    language_hint: str | None = None  # e.g. Telegram's client language
    kind: str = "text"  # or one of NON_TEXT_KINDS, or "group" for a message in a group chat
    inbox_id: int | None = None  # set when the message came through the durable inbox
    inbox_claim: str | None = None  # the lease under which it is processed (see bot.storage.deliveries)
    sent_at: dt.datetime | None = None  # when the user sent it, by the platform's clock


# What channels may hand over besides text. The engine answers each politely; it never tries to
# read the content (no speech or image recognition: answers come only from curated content).
NON_TEXT_KINDS = frozenset(
    {"photo", "document", "video", "animation", "video_note", "voice", "audio", "sticker", "location",
     "contact", "reaction", "unsupported"}
)  # fmt: skip


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class Template:
    """A message form the platform approved in advance, with the values for its gaps.

    WhatsApp delivers nothing else to a user who has not written for 24 hours; `text` of the
    `Outbound` that carries a template is what the transcript shows.
    """

    name: str
    language: str  # the platform's code of the approved translation
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outbound:
    text: str
    buttons: tuple[Button, ...] = ()
    template: Template | None = None


@dataclass
class Reply:
    """The engine's answer to one inbound message."""

    messages: list[Outbound]
    language: str
    intent: str | None = None
    confidence: float = 0.0
    answer_key: str | None = None
    handover: bool = False
    entities: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["messages"] = [
            {"text": m.text, "buttons": [{"title": b.title, "payload": b.payload} for b in m.buttons]}
            for m in self.messages
        ]  # never a template: the engine answers within a turn, when every channel lets it write
        return data
