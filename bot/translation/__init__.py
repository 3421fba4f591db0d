"""Machine translation for the caseworker console (LibreTranslate, Google, DeepL, Microsoft or none).

Imports no web framework, chat library or NLU: the console calls `MachineTranslation`, which calls a
provider over plain HTTP.
"""

from __future__ import annotations

from bot.translation.errors import (
    TranslationConfigError,
    TranslationDisabled,
    TranslationError,
    TranslationRejected,
    TranslationUnavailable,
)
from bot.translation.libretranslate import LibreTranslateClient
from bot.translation.protocol import AUTO, NoTranslation, TranslationProvider
from bot.translation.providers import PROVIDERS, provider_from_settings
from bot.translation.service import MachineTranslation, Translation

__all__ = [
    "AUTO",
    "PROVIDERS",
    "LibreTranslateClient",
    "MachineTranslation",
    "NoTranslation",
    "Translation",
    "TranslationConfigError",
    "TranslationDisabled",
    "TranslationError",
    "TranslationProvider",
    "TranslationRejected",
    "TranslationUnavailable",
    "provider_from_settings",
]
