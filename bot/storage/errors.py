"""Storage errors."""

from __future__ import annotations

from bot.errors import LotseError


class StorageError(LotseError):
    """The database is unreachable or not in the expected shape."""
