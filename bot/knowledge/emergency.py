"""The emergency numbers Lotse must always give, exactly, and how to tell whether a text kept them.

A wrong or missing emergency number is a safety fault, not a content slip: an edition of the
content without one of these numbers is refused like a broken file, and a translation that drops or
changes a number its German source gives is not served (users then read the German, which has it).
"""

from __future__ import annotations

import re
import unicodedata

REQUIRED_NUMBERS = ("110", "112", "116 016", "0800 111 0 111", "0800 111 0 222")
_NUMBER = re.compile(r"\d(?:[\d ]*\d)?")


def numbers_in(text: str) -> set[str]:
    """The required emergency numbers written in `text` (in any digits, with or without spaces).

    Whole numbers only: "0800 111 0 111" does not also count as 110 or 111.
    """
    ascii_digits = "".join(str(unicodedata.digit(ch)) if ch.isdigit() else ch for ch in text)
    written = {match.replace(" ", "") for match in _NUMBER.findall(ascii_digits)}
    return {number for number in REQUIRED_NUMBERS if number.replace(" ", "") in written}


def lost_numbers(source: str, translation: str) -> list[str]:
    """The required numbers in the German `source` that the `translation` no longer gives."""
    return sorted(numbers_in(source) - numbers_in(translation))
