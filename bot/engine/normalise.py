"""Cleaning what users type before anything looks at it.

Zero-width and bidi control characters are stripped (they come from copy-paste in right-to-left
scripts and would defeat keyword matching), and Arabic-script letter variants are unified for matching.

Message length has two limits. The language understanding reads the first MAX_UNDERSTOOD_CHARS: a
question is in its first sentences, and a classifier fed a pasted letter only gets less sure. The
transcript keeps up to MAX_MESSAGE_CHARS, Telegram's and WhatsApp's own limit for one text, so that
nothing a messenger user can send is cut; only longer texts (web chat, the API) are stored cut, with
CUT_MARKER at the end. The safety net and the slot matching see everything that is kept, so a cry
for help at the end of a long message is not missed. A user whose text was longer than what is
understood is told so (see bot.engine.dialogue).
"""

from __future__ import annotations

import re
import unicodedata

MAX_UNDERSTOOD_CHARS = 1000
MAX_MESSAGE_CHARS = 4096
CUT_MARKER = " […]"
_CONTROL = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad]")
_SPACE = re.compile(r"\s+")
_ARABIC_VARIANTS = str.maketrans({"ي": "ی", "ك": "ک", "ى": "ی", "أ": "ا", "إ": "ا", "آ": "ا", "ة": "ه"})


def tidy(text: str) -> str:
    """Text with controls removed and white space folded, at most MAX_MESSAGE_CHARS long."""
    text = _CONTROL.sub("", (text or "")[: 2 * MAX_MESSAGE_CHARS])
    text = "".join(ch for ch in text if unicodedata.category(ch) not in {"Cc", "Cf"} or ch in "\n\t")
    # Composed only now: a control removed between a letter and its accent would otherwise leave
    # them apart, and tidying the tidied text would give another result.
    text = unicodedata.normalize("NFC", text)
    return _SPACE.sub(" ", text).strip()[:MAX_MESSAGE_CHARS].rstrip()


def clean(text: str) -> str:
    """The tidied text as far as the NLU reads it."""
    return tidy(text)[:MAX_UNDERSTOOD_CHARS].rstrip()


def too_long_to_understand(text: str) -> bool:
    """Whether the NLU reads only the beginning of this (tidied) text."""
    return len(text) > MAX_UNDERSTOOD_CHARS


def for_storage(text: str) -> str:
    """The text as the transcript keeps it: in full up to MAX_MESSAGE_CHARS, else cut and marked.

    A NUL or a lone surrogate (the web chat and the CLI pass on whatever they are given) cannot be
    stored in a PostgreSQL text column or as UTF-8 at all; they become U+FFFD and "?".
    """
    text = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[: MAX_MESSAGE_CHARS - len(CUT_MARKER)] + CUT_MARKER


def for_matching(text: str) -> str:
    """Casefolded, Arabic-script variants unified; for keyword safety nets and slot matching."""
    # Turkish "İ" casefolds to "i" plus a combining dot; drop the dot so "İntihar" matches "intihar".
    # Casefolding may decompose ("ǰ"), a dropped dot may leave two spaces side by side, and an alef
    # left before a madda composes to "آ" again: folding is repeated until nothing changes (twice for
    # all but contrived texts), so that the matching form of a matching form is itself.
    folded = _fold_once(tidy(text))
    for _ in range(4):
        again = _fold_once(folded)
        if again == folded:
            break
        folded = again
    return folded


def _fold_once(text: str) -> str:
    return tidy(text.casefold().replace("\u0307", "").translate(_ARABIC_VARIANTS)).translate(_ARABIC_VARIANTS)


def has_words(text: str) -> bool:
    """Whether there is anything to understand (letters or digits, not just emoji or punctuation)."""
    return any(ch.isalnum() for ch in text)


def digits_to_ascii(text: str) -> str:
    """Arabic-Indic and Persian digits as ASCII, so '٣' and '۳' read as 3."""
    return "".join(str(unicodedata.digit(ch)) if ch.isdigit() and not ch.isascii() else ch for ch in text)
