"""Splitting long texts for platforms with a length limit.

A cut in the middle of a sentence (or of a phone number) is worse than one more message, so the
text is broken at the coarsest boundary that fits: paragraphs, then lines, then sentences, then
words, and only a single overlong word is cut hard. Lengths are counted in UTF-16 code units,
as Telegram counts them (an emoji outside the BMP counts two).
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?؟।。…])\s+")
_SEPARATORS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\n\s*\n"), "\n\n"),
    (re.compile(r"\n"), "\n"),
    (_SENTENCE_END, " "),
    # any white space, also no-break and ideographic spaces: what is left to cut hard is one word
    (re.compile(r"\s+"), " "),
)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int, last_limit: int | None = None) -> list[str]:
    """Parts of `text`, each within `limit`; joining them loses only whitespace at the cuts.

    `last_limit` caps the last part further: WhatsApp's buttons go with a text of at most 1024
    characters, while a plain message may have 4096.
    """
    if limit < 2 or (last_limit is not None and last_limit < 2):
        raise ValueError("a limit must fit any character, which may take two UTF-16 units")
    text = text.strip()
    if utf16_length(text) <= limit:
        parts = [text] if text else [""]
    else:
        parts = [part for part in _split(text, limit, 0) if part]
    if last_limit is not None and utf16_length(parts[-1]) > last_limit:
        parts = parts[:-1] + [part for part in _split(parts[-1], last_limit, 0) if part]
    return parts


def _split(text: str, limit: int, level: int) -> list[str]:
    if utf16_length(text) <= limit:
        return [text.strip()]
    if level >= len(_SEPARATORS):
        return _hard_cut(text.strip(), limit)
    pattern, joiner = _SEPARATORS[level]
    pieces = [p for p in pattern.split(text) if p.strip()]
    if len(pieces) <= 1:
        return _split(text, limit, level + 1)
    parts: list[str] = []
    current = ""
    for piece in pieces:
        piece = piece.strip()
        candidate = f"{current}{joiner}{piece}" if current else piece
        if utf16_length(candidate) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        if utf16_length(piece) <= limit:
            current = piece
        else:
            parts.extend(_split(piece, limit, level + 1))
            current = ""
    if current:
        parts.append(current)
    return parts


def _hard_cut(text: str, limit: int) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for char in text:
        width = 2 if ord(char) > 0xFFFF else 1
        if size + width > limit:
            parts.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    if current:
        parts.append("".join(current))
    return parts
