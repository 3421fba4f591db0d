"""The soak test's view of what users received: one mailbox (bench/mailbox.py) fed by both fakes.

Chats are keyed "tg:<chat id>" and "wa:<wa_id>", so one soak run accounts for both channels alike.
"""

from __future__ import annotations

import time
from typing import Any

from bench.mailbox import Arrival, Mailbox
from tests.fakes.telegram import FakeBotApi, JsonDict
from tests.fakes.whatsapp import FakeGraphApi, Sent


class MailingBotApi(FakeBotApi):
    """The fake Bot API, handing every accepted sendMessage to the mailbox."""

    def __init__(self, mailbox: Mailbox, token: str) -> None:
        self.mailbox = mailbox
        super().__init__(token=token)

    def _record(self, method: str, params: JsonDict, status: int, body: JsonDict) -> tuple[int, JsonDict]:
        result = super()._record(method, params, status, body)
        if method == "sendMessage" and status == 200:
            markup = params.get("reply_markup")
            rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
            payloads = tuple(str(b.get("callback_data", "")) for row in rows for b in row)
            arrival = Arrival(time.monotonic(), str(params.get("text", "")), payloads)
            self.mailbox.deliver(f"tg:{params['chat_id']}", arrival)
        return result


class MailingGraphApi(FakeGraphApi):
    """The fake Graph API, handing every message that reaches the user (inside the window) to the mailbox."""

    def __init__(self, mailbox: Mailbox, app_secret: str) -> None:
        self.mailbox = mailbox
        super().__init__(app_secret=app_secret)

    def _answer(self, kind: str, body: JsonDict) -> tuple[JsonDict, Sent | None]:
        result, sent = super()._answer(kind, body)
        if sent is not None and sent.in_window:
            text, payloads = _readable(sent.body)
            self.mailbox.deliver(f"wa:{sent.to}", Arrival(time.monotonic(), text, payloads))
        return result, sent


def _readable(body: JsonDict) -> tuple[str, tuple[str, ...]]:
    """The text a WhatsApp user reads and the ids of the buttons or list rows offered."""
    kind = body.get("type", "text")
    if kind == "text":
        return str(body.get("text", {}).get("body", "")), ()
    if kind == "interactive":
        interactive: dict[str, Any] = body.get("interactive", {})
        action = interactive.get("action", {})
        ids = [str(b.get("reply", {}).get("id", "")) for b in action.get("buttons", [])]
        ids += [str(r.get("id", "")) for s in action.get("sections", []) for r in s.get("rows", [])]
        return str(interactive.get("body", {}).get("text", "")), tuple(ids)
    if kind == "template":
        texts = [
            str(p.get("text", ""))
            for c in body.get("template", {}).get("components", []) or []
            for p in c.get("parameters", []) or []
            if isinstance(p, dict)
        ]
        return " ".join(texts), ()
    return "", ()
