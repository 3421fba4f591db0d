"""Splitting texts longer than a provider accepts, so that the pieces join back without a seam.

`bot.channels.text.split_text` splits for display: it counts UTF-16 units (as Telegram does) and
normalises the whitespace at its cuts. Here each piece is translated on its own and the translations
are joined again, so the cut must be lossless (the pieces concatenate to exactly the input, keeping
the caseworker's paragraphs and line breaks) and lengths are counted in code points, as
LibreTranslate and deep-translator count them. Cuts go at the coarsest boundary that fits
(paragraph, line, sentence, word), because a sentence cut in half is translated badly.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_BOUNDARIES: tuple[re.Pattern[str], ...] = (
    re.compile(r"\n\s*\n\s*"),
    re.compile(r"\n\s*"),
    re.compile(r"(?<=[.!?؟。…])\s+"),
    re.compile(r"\s+"),
)
_EDGES = re.compile(r"^(\s*)(.*?)(\s*)$", re.DOTALL)


def split_for_translation(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters whose concatenation is exactly `text`."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    return _split(text, limit, 0)


def translate_in_pieces(text: str, limit: int, translate: Callable[[str], str]) -> str:
    """Translate `text` piece by piece, keeping the whitespace around each piece as it was.

    Providers trim or reflow surrounding whitespace, so only the words go to them; the paragraph
    breaks between the pieces are put back from the original.
    """
    out: list[str] = []
    for piece in split_for_translation(text, limit):
        match = _EDGES.match(piece)
        assert match is not None  # the pattern matches every string
        lead, words, trail = match.groups()
        out.append(lead + (translate(words) if words else "") + trail)
    return "".join(out)


def _split(text: str, limit: int, level: int) -> list[str]:
    if len(text) <= limit:
        return [text]
    if level == len(_BOUNDARIES):
        return [text[i : i + limit] for i in range(0, len(text), limit)]
    # Each segment keeps the separator that follows it, so nothing is lost between segments.
    cuts = [m.end() for m in _BOUNDARIES[level].finditer(text) if 0 < m.end() < len(text)]
    segments = [text[start:end] for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    pieces: list[str] = []
    current = ""
    for segment in segments:
        if len(current) + len(segment) <= limit:
            current += segment
            continue
        if current:
            pieces.append(current)
        if len(segment) <= limit:
            current = segment
        else:
            pieces.extend(_split(segment, limit, level + 1))
            current = ""
    if current:
        pieces.append(current)
    return pieces
