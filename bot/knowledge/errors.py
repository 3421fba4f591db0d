"""Errors in content files, always with the file and line an editor must open."""

from __future__ import annotations

from pathlib import Path

from bot.errors import LotseError


class ContentError(LotseError):
    """A problem in `content/` that stops it from loading."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.detail = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


class ContentErrors(LotseError):
    """Several problems at once, so that an editor fixes them in one round."""

    def __init__(self, errors: list[ContentError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))
