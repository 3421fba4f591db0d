"""WhatsApp from the settings: on when configured, refused when half configured."""

from __future__ import annotations

from bot.channels.errors import ChannelConfigError
from bot.channels.whatsapp.channel import WhatsAppChannel
from bot.channels.whatsapp.graph import GraphClient
from bot.config import Settings
from bot.live.editions import Editions

REQUIRED = {
    "WHATSAPP_TOKEN": "whatsapp_token",
    "WHATSAPP_PHONE_NUMBER_ID": "whatsapp_phone_number_id",
    "WHATSAPP_APP_SECRET": "whatsapp_app_secret",
    "WHATSAPP_VERIFY_TOKEN": "whatsapp_verify_token",
}


def whatsapp_from_settings(settings: Settings, editions: Editions) -> WhatsAppChannel | None:
    """The channel, or None when no WhatsApp variable is set at all.

    Without the app secret the webhook could not tell Meta's posts from forged ones, so a partial
    configuration stops the start with the names of what is missing.
    """
    values = {name: getattr(settings, attr) for name, attr in REQUIRED.items()}
    if not any(values.values()):
        return None
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ChannelConfigError(f"WhatsApp is half configured; also set {', '.join(missing)}")
    client = GraphClient(
        settings.whatsapp_token,
        settings.whatsapp_phone_number_id,
        settings.whatsapp_api_base_url,
        settings.whatsapp_api_version,
    )
    return WhatsAppChannel(client, editions, settings.whatsapp_rate)
