"""Lotse's messages in WhatsApp's forms: plain text, reply buttons, list messages, templates.

WhatsApp has tight limits where Telegram has loose ones: at most 3 reply buttons with titles of 20
characters, or one list of at most 10 rows with titles of 24 (and a description of 72). The form is
chosen per message: reply buttons when the choices fit, else a list; choices beyond ten go into a
following message. Titles that do not fit are shortened at a word boundary with "…", and in a list
the whole title then stands in the row's description, so nothing the user needs is cut away.
Lengths are counted in characters, as WhatsApp counts them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.engine.messages import Button, Template

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096
INTERACTIVE_BODY_LIMIT = 1024
MAX_BUTTONS = 3
BUTTON_TITLE_LIMIT = 20
MAX_ROWS = 10
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200  # a reply button's id may have 256; the smaller limit serves both
LIST_BUTTON_LIMIT = 20
_BREAKS = " -/"


@dataclass(frozen=True)
class Labels:
    """The few words WhatsApp's forms need besides the message, in the user's language."""

    open_list: str  # the button that opens a list, e.g. "Auswählen"
    more: str  # the text above choices that did not fit into the first message


def shorten(text: str, limit: int) -> str:
    """`text` within `limit` characters, cut after a whole word where one ends late enough."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    boundary = max(cut.rfind(char) for char in _BREAKS)
    if boundary >= limit // 2:
        cut = cut[:boundary]
    return cut.rstrip(" -/,.:;") + "…"


def text_message(text: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": text, "preview_url": False}}


def template_message(template: Template) -> dict[str, Any]:
    components = []
    if template.parameters:
        components.append(
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in template.parameters]}
        )
    return {
        "type": "template",
        "template": {
            "name": template.name,
            "language": {"code": template.language},
            "components": components,
        },
    }


def messages_for(text: str, buttons: Sequence[Button], labels: Labels) -> list[dict[str, Any]]:
    """The WhatsApp messages (without recipient) that carry one of Lotse's messages."""
    choices = _usable(buttons)
    if not choices:
        return [text_message(text)]
    result: list[dict[str, Any]] = []
    body = text
    if len(body) > INTERACTIVE_BODY_LIMIT:  # the sender splits before this; a safety net only
        result.append(text_message(text))
        body = labels.more
    first = True
    while choices:
        if _fits_buttons(choices):
            result.append(_buttons(body if first else labels.more, choices))
            break
        result.append(_list(body if first else labels.more, choices[:MAX_ROWS], labels))
        choices = choices[MAX_ROWS:]
        first = False
    return result


def _usable(buttons: Sequence[Button]) -> list[Button]:
    seen: set[str] = set()
    usable = []
    for button in buttons:
        if not button.payload or len(button.payload) > ROW_ID_LIMIT or button.payload in seen:
            log.error("button dropped: payload empty, repeated or over %s characters", ROW_ID_LIMIT)
            continue
        seen.add(button.payload)
        usable.append(button)
    return usable


def _fits_buttons(choices: Sequence[Button]) -> bool:
    titles = [" ".join(b.title.split()) for b in choices]
    return (
        len(choices) <= MAX_BUTTONS
        and all(0 < len(t) <= BUTTON_TITLE_LIMIT for t in titles)
        and len(set(titles)) == len(titles)
    )


def _buttons(body: str, choices: Sequence[Button]) -> dict[str, Any]:
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": body},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": b.payload, "title": " ".join(b.title.split())}}
                    for b in choices
                ]
            },
        },
    }


def _list(body: str, choices: Sequence[Button], labels: Labels) -> dict[str, Any]:
    rows = []
    for choice in choices:
        full = " ".join(choice.title.split()) or choice.payload
        row: dict[str, Any] = {"id": choice.payload, "title": shorten(full, ROW_TITLE_LIMIT)}
        if row["title"] != full:
            row["description"] = shorten(full, ROW_DESCRIPTION_LIMIT)
        rows.append(row)
    return {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": body},
            "action": {"button": shorten(labels.open_list, LIST_BUTTON_LIMIT), "sections": [{"rows": rows}]},
        },
    }
