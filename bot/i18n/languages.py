"""The languages of the first release and what the engine needs to know about each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    code: str
    native_name: str
    babel_locale: str
    rtl: bool = False

    @property
    def dir(self) -> str:
        """The HTML `dir` value for text in this language."""
        return "rtl" if self.rtl else "ltr"


LANGUAGES: dict[str, Language] = {
    "de": Language("de", "Deutsch", "de_DE"),
    "en": Language("en", "English", "en_GB"),
    "ar": Language("ar", "العربية", "ar", rtl=True),
    "fa": Language("fa", "دری / فارسی", "fa", rtl=True),
    "uk": Language("uk", "Українська", "uk_UA"),
    "ru": Language("ru", "Русский", "ru_RU"),
    "tr": Language("tr", "Türkçe", "tr_TR"),
}
SOURCE_LANGUAGE = "de"
TRANSLATED_LANGUAGES: tuple[str, ...] = tuple(code for code in LANGUAGES if code != SOURCE_LANGUAGE)

# Unicode isolates keep right-to-left text readable when it is mixed with numbers and Latin names.
RLI, LRI, PDI = "\u2067", "\u2066", "\u2069"


def supported(code: str | None) -> str | None:
    """Map a client language tag ('ar-SY', 'prs', 'fa_AF') to one of ours, if we have it."""
    if not code:
        return None
    base = code.replace("_", "-").split("-")[0].lower()
    if base == "prs":  # ISO 639-3 for Dari
        base = "fa"
    return base if base in LANGUAGES else None


def isolate_ltr(text: str, language: str) -> str:
    """Wrap a left-to-right fragment (phone number, address) for a right-to-left message."""
    if LANGUAGES[language].rtl:
        return f"{LRI}{text}{PDI}"
    return text
