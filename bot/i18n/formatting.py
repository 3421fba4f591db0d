"""Dates, times and weekdays in the user's locale, with Babel."""

from __future__ import annotations

import datetime as dt

from babel.dates import format_skeleton, format_time, get_day_names

from bot.i18n.languages import LANGUAGES


def _locale(language: str) -> str:
    return LANGUAGES[language].babel_locale


def weekday_name(index: int, language: str) -> str:
    """Monday is 0, as in Python."""
    return str(get_day_names("wide", locale=_locale(language))[index])


def time_text(moment: dt.datetime | dt.time, language: str) -> str:
    return str(format_time(moment, "short", locale=_locale(language)))


def day_text(moment: dt.datetime | dt.date, language: str) -> str:
    """Weekday, day and month, e.g. 'Montag, 23. November' or 'الاثنين، ٢٣ نوفمبر'."""
    return str(format_skeleton("MMMMEEEEd", moment, locale=_locale(language)))


def opening_text(start: dt.datetime, end: dt.datetime, language: str) -> str:
    return f"{day_text(start, language)}, {time_text(start, language)}–{time_text(end, language)}"
