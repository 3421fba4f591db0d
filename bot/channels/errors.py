"""Errors of the channel adapters (configuration, platform answers)."""

from __future__ import annotations

from bot.errors import LotseError


class ChannelError(LotseError):
    """Base of the channel adapters' errors."""


class ChannelConfigError(ChannelError):
    """A channel is half configured: Lotse refuses to start rather than accept unchecked webhooks."""
