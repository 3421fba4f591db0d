"""The content and translations being served, replaced whole when editors change their files.

Everything that answers a user reads content and catalogs through one `Editions` holder, so that
a reload swaps both in a single assignment: a reply is never built from new content with old
translations, and a broken edit that does not load never replaces anything.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.i18n.catalogs import Catalogs
from bot.knowledge.content import Content


@dataclass(frozen=True)
class Edition:
    """One consistent state of `content/` and `locales/`, as loaded and validated together."""

    content: Content
    catalogs: Catalogs
    number: int
    published_at: dt.datetime


class Editions:
    """The current edition; `publish` replaces it for every reader at once."""

    def __init__(self, content: Content, catalogs: Catalogs) -> None:
        self._current = Edition(content, catalogs, 1, _utcnow())

    @property
    def current(self) -> Edition:
        return self._current

    @property
    def content(self) -> Content:
        return self._current.content

    @property
    def catalogs(self) -> Catalogs:
        return self._current.catalogs

    def publish(self, content: Content, catalogs: Catalogs) -> Edition:
        self._current = Edition(content, catalogs, self._current.number + 1, _utcnow())
        return self._current


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
