"""Errors of the catalog commands, meant for the translator or operator running them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import LotseError

if TYPE_CHECKING:
    from bot.i18n.prefill import Tally


class I18nError(LotseError):
    """A catalog command cannot do what was asked (unknown language, missing catalog, provider)."""


class PrefillStopped(I18nError):
    """Machine translation failed part-way; what was filled before is saved, and `tallies` says how much.

    Carries the tallies so that the command can still print its summary: a translator re-running it
    should see which languages are done and how many entries are left.
    """

    def __init__(self, message: str, tallies: Sequence[Tally]) -> None:
        super().__init__(message)
        self.tallies = list(tallies)


class CatalogSyntaxError(I18nError):
    """A `.po` file a gettext tool would reject, with the line a translator must open.

    Babel on its own reads past such lines with a warning and loses or cuts the entry, so a typo in a
    text editor would silently show German (or half a sentence) to users.
    """

    def __init__(self, path: Path, line: int, detail: str) -> None:
        self.path = str(path)
        self.line = line
        self.detail = detail
        super().__init__(f"{path}:{line}: {detail}")
