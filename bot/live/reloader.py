"""Live content: `lotse serve` picks up edits to `content/` and `locales/` without a restart.

A change is loaded and validated completely before anything is replaced. If it does not load, the
log names every problem with file and line and the last good edition keeps answering, so a typo in
a weekday never takes the assistant down or leaves it half-updated.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bot.config import Settings
from bot.i18n.catalogs import Catalogs
from bot.i18n.errors import I18nError
from bot.knowledge.content import Content, load_content
from bot.knowledge.errors import ContentError, ContentErrors
from bot.live.editions import Edition, Editions
from bot.live.files import Fingerprint, fingerprint

log = logging.getLogger(__name__)


def load_edition(settings: Settings) -> tuple[Content, Catalogs]:
    return load_content(settings.content_dir), Catalogs.load(settings.locales_dir)


class ContentReloader:
    """Polls the editors' folders and publishes a new edition when a change loads cleanly."""

    def __init__(self, settings: Settings, editions: Editions, interval: float = 1.0, settle: float = 0.2):
        self.settings = settings
        self.editions = editions
        self.interval = interval
        self.settle = settle  # an editor's tool may write several files, or one file twice
        self.refused: list[str] = []  # why the files on disk are not served: what editors must fix
        self._seen = self._fingerprint()

    def _fingerprint(self) -> Fingerprint:
        return fingerprint(self.settings.content_dir, self.settings.locales_dir)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:  # never let a reload bug stop the watching; the old edition serves on
                log.exception("checking content/ and locales/ for changes failed")

    async def check(self) -> Edition | None:
        """Publish the files on disk if they changed and load; None when nothing was published."""
        current = self._fingerprint()
        if current == self._seen:
            return None
        await asyncio.sleep(self.settle)
        if self._fingerprint() != current:
            return None  # still being written; the next poll looks again
        self._seen = current
        started = time.perf_counter()
        try:
            content, catalogs = await asyncio.to_thread(load_edition, self.settings)
        except ContentErrors as exc:
            self._refuse([str(error) for error in exc.errors])
            return None
        except (ContentError, I18nError) as exc:  # an unreadable YAML or `.po` file
            self._refuse([str(exc)])
            return None
        except Exception as exc:  # an unreadable catalog, a file removed while loading
            self._refuse([f"{type(exc).__name__}: {exc}"])
            return None
        edition = self.editions.publish(content, catalogs)
        self.refused = []
        log.info(
            "content reloaded: edition %d (%d topics, %d places) in %.0f ms",
            edition.number,
            len(content.topics),
            len(content.places),
            1000 * (time.perf_counter() - started),
        )
        return edition

    def _refuse(self, problems: list[str]) -> None:
        serving = self.editions.current.number
        self.refused = problems
        log.error(
            "content change refused, still serving edition %d; fix and save again:\n  %s",
            serving,
            "\n  ".join(problems),
        )
        return None
