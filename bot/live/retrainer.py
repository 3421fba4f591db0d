"""Background retraining: when `nlu/`, `config.yml` or the towns change, train and swap the model.

Training runs in a separate process (`lotse train`), so the server keeps answering at full speed
with the old model; the new one is loaded in a thread and replaces the old in one assignment. A
failed training leaves the old model serving and logs why.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable

from bot.config import Settings
from bot.engine.engine import Engine
from bot.engine.understanding import Understanding
from bot.i18n.langid import LanguageIdentifier
from bot.live.files import fingerprint
from bot.understanding.training import data_hash, hash_file

log = logging.getLogger(__name__)


class ModelRetrainer:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        load: Callable[[Settings], Understanding],
        interval: float = 2.0,
        trains: bool = True,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.load = load
        self.interval = interval
        # With `lotse serve --workers N` worker 0 trains; the others only follow: they load the
        # model once it is written for the current data (N trainings at once would share one file).
        self.trains = trains
        self._following = False  # a follower waits for the trainer's model
        self.swaps = 0  # models swapped in since the start, for the health check and tests
        self.failed: str | None = None
        self._seen: tuple[object, ...] | None = None  # the first look also catches a model left stale

    def _inputs(self) -> tuple[object, ...]:
        """What the model is trained from: NLU files, the pipeline and the towns being served."""
        files = fingerprint(self.settings.nlu_dir, self.settings.nlu_config)
        return files, tuple(self.engine.editions.content.town_names())

    def stale(self) -> bool:
        """True when the model on disk was trained from other data than the current files."""
        marker = hash_file(self.settings.model_path)
        current = data_hash(self.settings, self.engine.editions.content.town_names())
        return not marker.exists() or marker.read_text().strip() != current

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:
                log.exception("background retraining failed; the old model keeps answering")

    async def check(self) -> bool:
        """Retrain and swap if the inputs changed since the last look; True when a model was swapped."""
        inputs = self._inputs()
        if inputs == self._seen and not self._following:
            return False
        first_look, self._seen = self._seen is None, inputs
        stale = await asyncio.to_thread(self.stale)
        if self.trains:
            return await self.retrain() if stale else False
        if stale:  # the trainer is at work; look again next time
            self._following = True
            return False
        if first_look and not self._following:
            return False  # the model loaded at the start is the current one
        self._following = False
        await self._swap()
        log.info("swapped in the NLU model another worker trained")
        return True

    async def retrain(self) -> bool:
        started = time.perf_counter()
        log.info("NLU data changed; training a new model in the background")
        # a thread waits for the child: asyncio's own subprocess support depends on the loop policy,
        # and Rasa installs uvloop's, which does not provide it on every loop
        finished = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bot.cli", "train"],
            env=_training_environment(self.settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
        if finished.returncode != 0:
            self.failed = "\n".join(finished.stdout.decode("utf-8", "replace").strip().splitlines()[-5:])
            log.error(
                "training failed (exit %s); the old model keeps answering:\n%s", finished.returncode, self.failed
            )
            return False
        await self._swap()
        self.failed = None
        log.info("new NLU model trained and swapped in after %.0f s", time.perf_counter() - started)
        return True

    async def _swap(self) -> None:
        understanding = await asyncio.to_thread(self.load, self.settings)
        langid = await asyncio.to_thread(LanguageIdentifier.from_nlu, self.settings.nlu_dir)
        self.engine.understanding, self.engine.langid = understanding, langid
        self.swaps += 1


def _training_environment(settings: Settings) -> dict[str, str]:
    """The server's own paths, also when they were given in code rather than in the environment."""
    return {
        **os.environ,
        "LOTSE_CONTENT_DIR": str(settings.content_dir),
        "LOTSE_NLU_DIR": str(settings.nlu_dir),
        "LOTSE_NLU_CONFIG": str(settings.nlu_config),
        "LOTSE_MODEL": str(settings.model_path),
    }
