"""When a caseworker may write freely: WhatsApp's customer service window.

WhatsApp delivers free-form messages only within 24 hours of the user's last message; after that
only a template approved in advance goes through, and anything else fails after it was accepted.
The desk therefore decides before queueing a reply, and the console shows how much time is left.
Channels without such a rule (Telegram, the web chat) have no window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

FREE_FORM_WINDOWS: dict[str, dt.timedelta] = {"whatsapp": dt.timedelta(hours=24)}


@dataclass(frozen=True)
class ReplyWindow:
    """The window of one chat; `closes_at` is None when the user's messages are gone (erased)."""

    closes_at: dt.datetime | None

    def is_open(self, now: dt.datetime) -> bool:
        return self.closes_at is not None and now < self.closes_at

    def left(self, now: dt.datetime) -> dt.timedelta:
        if self.closes_at is None:
            return dt.timedelta(0)
        return max(dt.timedelta(0), self.closes_at - now)


def reply_window(channel: str, last_inbound_at: dt.datetime | None) -> ReplyWindow | None:
    """The chat's window, or None when its channel lets Lotse write at any time."""
    length = FREE_FORM_WINDOWS.get(channel)
    if length is None:
        return None
    return ReplyWindow(None if last_inbound_at is None else last_inbound_at + length)
