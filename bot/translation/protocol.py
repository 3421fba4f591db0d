"""What a translation provider is: a blocking call that may raise `TranslationUnavailable`.

Providers are synchronous on purpose: deep-translator's translators are, and `MachineTranslation`
runs every provider the same way (in a small thread pool under a deadline), so a test can hand it any
object with these three members.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.translation.errors import TranslationDisabled

AUTO = "auto"
"""The source language to pass when it is unknown; each provider maps it to its own auto-detection."""


class TranslationProvider(Protocol):
    """A machine translation service.

    `name` keys the cache and is shown in the console; `max_chars` is the longest text one request
    may carry (longer texts are split by `MachineTranslation`). `translate` gets a source language
    code or `AUTO`, a target code, and a text that is neither empty nor longer than `max_chars`; it
    raises `TranslationUnavailable` (or a subclass) on every failure it understands.
    """

    @property
    def name(self) -> str: ...

    @property
    def max_chars(self) -> int: ...

    def translate(self, text: str, source: str, target: str) -> str: ...


@runtime_checkable
class Closeable(Protocol):
    """A provider that holds connections to release when the service closes."""

    def close(self) -> None: ...


class NoTranslation:
    """The provider for `LOTSE_TRANSLATION=none`: a district that wants no text to leave Lotse."""

    name = "none"
    max_chars = 1_000_000

    def translate(self, text: str, source: str, target: str) -> str:
        raise TranslationDisabled("machine translation is switched off (LOTSE_TRANSLATION=none)")


def language_code(tag: str) -> str:
    """The base code the providers know: 'fa-AF' and 'prs' (Dari) become 'fa', 'uk_UA' becomes 'uk'.

    Dari is written and machine-translated as Persian; no provider Lotse supports treats it apart
    reliably, and the users choose 'fa' in Lotse anyway.
    """
    base = tag.strip().replace("_", "-").split("-")[0].lower()
    return "fa" if base == "prs" else base
