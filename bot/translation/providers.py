"""Choosing the provider from the settings, with errors that name the variable to fix."""

from __future__ import annotations

from bot.config import Settings
from bot.translation import deep_translator_providers
from bot.translation.errors import TranslationConfigError
from bot.translation.libretranslate import LibreTranslateClient
from bot.translation.protocol import NoTranslation, TranslationProvider

PROVIDERS = ("none", "libre", "google", "deepl", "microsoft")


def provider_from_settings(settings: Settings) -> TranslationProvider:
    """The provider `LOTSE_TRANSLATION` names, configured from its variables.

    Called when the server starts, so that a typo stops the start with a message instead of showing
    up as "translation unavailable" in a caseworker's console weeks later.
    """
    choice = settings.translation_provider.strip().lower()
    if choice == "none":
        return NoTranslation()
    if choice == "libre":
        if not settings.libretranslate_url.startswith(("http://", "https://")):
            raise TranslationConfigError(
                f"LIBRETRANSLATE_URL={settings.libretranslate_url!r}: expected an http:// or https:// URL"
            )
        return LibreTranslateClient(
            settings.libretranslate_url,
            settings.libretranslate_api_key,
            timeout=settings.translation_timeout,
        )
    if choice == "google":
        return deep_translator_providers.google()
    if choice == "deepl":
        _require(settings.deepl_api_key, "DEEPL_API_KEY", choice)
        return deep_translator_providers.deepl(settings.deepl_api_key, free_api=settings.deepl_free_api)
    if choice == "microsoft":
        _require(settings.microsoft_translator_key, "MICROSOFT_TRANSLATOR_KEY", choice)
        return deep_translator_providers.microsoft(
            settings.microsoft_translator_key, settings.microsoft_translator_region
        )
    raise TranslationConfigError(
        f"LOTSE_TRANSLATION={settings.translation_provider!r} is not a translation provider; "
        f"use one of: {', '.join(PROVIDERS)}"
    )


def _require(value: str, variable: str, provider: str) -> None:
    if not value:
        raise TranslationConfigError(f"LOTSE_TRANSLATION={provider} needs {variable}")
