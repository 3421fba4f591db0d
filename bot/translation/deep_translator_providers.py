"""Google, DeepL and Microsoft through deep-translator, adapted to `TranslationProvider`.

deep-translator's translators keep the language pair and request parameters on the instance, so an
instance is not safe to share between threads: each call builds a fresh one (construction is cheap
once Microsoft's network call for its language list is taken out, see `_Microsoft`).

Its calls set no timeout; `MachineTranslation` bounds how long Lotse waits, but a hanging request
still holds its pool thread until the connection gives up. The pool is small and the circuit
breaker stops new calls after the first timeout, so this costs threads, not the console's time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from deep_translator import DeeplTranslator, GoogleTranslator, MicrosoftTranslator
from deep_translator import exceptions as dt_errors
from deep_translator.constants import DEEPL_LANGUAGE_TO_CODE, GOOGLE_LANGUAGES_TO_CODES

from bot.translation.errors import TranslationRejected, TranslationUnavailable
from bot.translation.protocol import AUTO

# Requests deep-translator refuses before sending anything: retrying or waiting cannot help.
_REJECTED: tuple[type[Exception], ...] = (
    dt_errors.LanguageNotSupportedException,
    dt_errors.InvalidSourceOrTargetLanguage,
    dt_errors.NotValidPayload,
    dt_errors.NotValidLength,
)

Factory = Callable[[str, str], Any]


class DeepTranslatorProvider:
    """One deep-translator service; maps its many exception types to Lotse's two."""

    def __init__(
        self, name: str, factory: Factory, *, max_chars: int, languages: frozenset[str] | None = None
    ) -> None:
        self.name = name
        self.max_chars = max_chars
        self._factory = factory
        self._languages = languages

    def translate(self, text: str, source: str, target: str) -> str:
        for code in (source, target):
            if self._languages is not None and code != AUTO and code not in self._languages:
                raise TranslationRejected(f"{self.name} does not translate the language {code!r}")
        try:
            result = self._factory(source, target).translate(text)
        except _REJECTED as exc:
            raise TranslationRejected(f"{self.name} refused the request: {_describe(exc)}") from None
        except Exception as exc:  # deep-translator raises requests', bs4's and its own errors alike
            raise TranslationUnavailable(f"{self.name} failed: {_describe(exc)}") from None
        if not isinstance(result, str):
            raise TranslationUnavailable(f"{self.name} answered without a translation")
        return result


def _describe(exc: Exception) -> str:
    """What went wrong, without the message text or the API key.

    The error ends up in the logs and the console's status line; `str()` of deep-translator's and
    requests' exceptions carries the request URL (with the text in it for Google and DeepL), the
    text itself (`TranslationNotFound`, `NotValidLength`) or the API key (`AuthorizationException`).
    """
    if isinstance(exc, dt_errors.AuthorizationException):
        return "the API key was refused"
    if isinstance(exc, dt_errors.ServerException):
        return f"server error {exc}"  # one of deep-translator's fixed codes, e.g. ERR_TOO_MANY_REQUESTS
    if isinstance(exc, dt_errors.MicrosoftAPIerror):
        return f"Microsoft API error {exc.api_message}"
    message = getattr(exc, "message", None)  # deep-translator's own errors keep the text apart from it
    return f"{type(exc).__name__}: {message}" if isinstance(message, str) else type(exc).__name__


class _PassThroughLanguages:
    """Hand our language codes to the service unchanged instead of checking deep-translator's list.

    The lists are older than the services (DeepL has translated Arabic since 2024; Microsoft's list
    would be fetched over the network); `DeepTranslatorProvider` checks its own list instead.
    """

    def _map_language_to_code(self, *languages: str) -> Iterator[str]:
        yield from languages


class _Deepl(_PassThroughLanguages, DeeplTranslator):  # type: ignore[misc]
    pass


class _Microsoft(_PassThroughLanguages, MicrosoftTranslator):  # type: ignore[misc]
    def _get_supported_languages(self) -> dict[str, str]:
        # The original asks the API for its language list, without a timeout, on every construction.
        return {}


def _without_auto(translator: Any, source: str) -> Any:
    """DeepL and Microsoft detect the language when the source is *omitted*; "auto" is an error there.

    `requests` drops parameters whose value is None, so a None source is what omits it.
    """
    if source == AUTO:
        translator.source = None
    return translator


def google() -> DeepTranslatorProvider:
    def factory(source: str, target: str) -> Any:
        return GoogleTranslator(source=source, target=target)

    # deep-translator accepts fewer than 5000 characters (`len(text) < 5000`).
    languages = frozenset(GOOGLE_LANGUAGES_TO_CODES.values())
    return DeepTranslatorProvider("google", factory, max_chars=4999, languages=languages)


def deepl(api_key: str, *, free_api: bool = True) -> DeepTranslatorProvider:
    def factory(source: str, target: str) -> Any:
        translator = _Deepl(source=source, target=target, api_key=api_key, use_free_api=free_api)
        return _without_auto(translator, source)

    # DeepL has no Persian. deep-translator sends the text in a GET query string; 1500 characters
    # of Arabic are about 9 KB once percent-encoded, well below common URL limits.
    languages = frozenset(DEEPL_LANGUAGE_TO_CODE.values()) | {"ar"}
    return DeepTranslatorProvider("deepl", factory, max_chars=1500, languages=languages)


def microsoft(api_key: str, region: str = "") -> DeepTranslatorProvider:
    def factory(source: str, target: str) -> Any:
        translator = _Microsoft(source=source, target=target, api_key=api_key, region=region or None)
        return _without_auto(translator, source)

    # The API takes 50,000 characters per request; smaller pieces keep one call within the deadline.
    return DeepTranslatorProvider("microsoft", factory, max_chars=10_000)
