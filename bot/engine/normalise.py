"""Cleaning what users type before anything looks at it.

Zero-width and bidi control characters are stripped (they come from copy-paste in right-to-left
scripts and would defeat keyword matching), Arabic-script letter variants are unified for matching,
and very long texts are cut for understanding while the original is still stored in full.
"""

from __future__ import annotations

import re
import unicodedata

MAX_UNDERSTOOD_CHARS = 1000
_CONTROL = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad]")
_SPACE = re.compile(r"\s+")
_ARABIC_VARIANTS = str.maketrans({"ي": "ی", "ك": "ک", "ى": "ی", "أ": "ا", "إ": "ا", "آ": "ا", "ة": "ه"})


def clean(text: str) -> str:
    """Text with controls removed and white space folded; what the NLU sees."""
    text = unicodedata.normalize("NFC", text or "")
    text = _CONTROL.sub("", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in {"Cc", "Cf"} or ch in "\n\t")
    return _SPACE.sub(" ", text).strip()[:MAX_UNDERSTOOD_CHARS]


def for_matching(text: str) -> str:
    """Casefolded, Arabic-script variants unified; for keyword safety nets and slot matching."""
    # Turkish "İ" casefolds to "i" plus a combining dot; drop the dot so "İntihar" matches "intihar".
    return clean(text).casefold().replace("\u0307", "").translate(_ARABIC_VARIANTS)


def has_words(text: str) -> bool:
    """Whether there is anything to understand (letters or digits, not just emoji or punctuation)."""
    return any(ch.isalnum() for ch in text)


def digits_to_ascii(text: str) -> str:
    """Arabic-Indic and Persian digits as ASCII, so '٣' and '۳' read as 3."""
    return "".join(str(unicodedata.digit(ch)) if ch.isdigit() and not ch.isascii() else ch for ch in text)
