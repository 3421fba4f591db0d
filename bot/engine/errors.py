"""Engine errors."""

from __future__ import annotations

from bot.errors import LotseError


class EngineError(LotseError):
    """The engine cannot process a message (for reasons other than the user's input)."""
