"""Reading values out of a platform's JSON that anyone with a network connection could have shaped.

A signed webhook proves who sent a body, not that every field has the type the documentation
promises; and a value that slips through with the wrong type fails later, in the worker, where it
is retried and logged as a bug instead of being refused at the door. So the converters take each
field through one of these functions: a value of the wrong type reads as missing.

Identifiers end up in indexed columns of 128 characters, and text ends up in PostgreSQL, which
cannot store NUL or a lone UTF-16 surrogate (JSON may carry both as escapes); such a text is kept
with those characters replaced, so that it is stored and answered like any other.
"""

from __future__ import annotations

import re
from typing import Any

MAX_ID_CHARS = 128  # the width of the inbox's and users' id columns
MAX_LANGUAGE_CHARS = 35  # the longest plausible IETF tag; Telegram sends "de" or "pt-br"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_ID = re.compile(r"[\x21-\x7e]+")  # printable ASCII without spaces: what every platform sends


def text(value: Any) -> str:
    """A string field, or "" when the field is missing or not a string."""
    if not isinstance(value, str):
        return ""
    return _UNSTORABLE.sub("\ufffd", value)


def identifier(value: Any) -> str | None:
    """An id given as a string (WhatsApp's wa_id and wamid), or None when it is not one."""
    if isinstance(value, str) and len(value) <= MAX_ID_CHARS and _ID.fullmatch(value):
        return value
    return None


def number(value: Any) -> int | None:
    """An integer id (Telegram's chat, user and update ids), or None; a bool is no number."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63:
        return value
    return None


def language(value: Any) -> str | None:
    """A client language tag, or None when it is not a short string."""
    if isinstance(value, str) and 0 < len(value) <= MAX_LANGUAGE_CHARS and _ID.fullmatch(value):
        return value
    return None
