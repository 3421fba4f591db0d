"""Storage errors."""

from __future__ import annotations

from bot.errors import LotseError


class StorageError(LotseError):
    """The database is unreachable or not in the expected shape."""


class ClaimLost(StorageError):
    """A lease on an inbox or outbox row ran out and another worker holds the row now."""
