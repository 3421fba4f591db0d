"""Translation errors: one hierarchy, so the console can show the original text and say why.

Machine translation is a convenience next to the original, never a reason to lose a message: every
failure is a `TranslationUnavailable`, which the console answers by showing the untranslated text.
The subclasses only tell whether the provider itself is in trouble, because that decides whether
the next calls should wait for it at all (see `CircuitBreaker`).
"""

from __future__ import annotations

from bot.errors import LotseError


class TranslationError(LotseError):
    """Base of the translation errors."""


class TranslationConfigError(TranslationError):
    """The translation settings cannot work (unknown provider, missing API key); names the variable."""


class TranslationUnavailable(TranslationError):
    """No translation now: the provider is down, slow, refused the key, or the feature is off.

    `provider_down` says whether the failure speaks about the provider as a whole: only then does it
    open the circuit breaker, so that one unsupported language does not block every other request.
    """

    provider_down: bool = True


class TranslationRejected(TranslationUnavailable):
    """The provider is up but refused this request (a language it does not offer, an invalid text)."""

    provider_down = False


class TranslationDisabled(TranslationUnavailable):
    """Machine translation is switched off (`LOTSE_TRANSLATION=none`)."""

    provider_down = False
