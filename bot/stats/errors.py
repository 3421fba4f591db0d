"""Why a statistics request was refused; the message is German, for the console and the CLI."""

from __future__ import annotations

from bot.errors import LotseError


class InvalidQuery(LotseError, ValueError):
    """A period or filter that does not exist (unknown team, end before start, ...)."""
