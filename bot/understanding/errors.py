"""Understanding errors."""

from __future__ import annotations

from bot.errors import LotseError


class UnderstandingError(LotseError):
    """The NLU model is missing, stale or could not be trained."""
