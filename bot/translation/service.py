"""Machine translation for the caseworker console: deadlines, a circuit breaker and a cache.

The console shows a refugee's message next to a German translation and a caseworker's German reply
next to its translation before it is sent. A translation is a help, never a reason to wait: every
call ends within its deadline, a provider that is down is skipped at once for a while, and whatever
fails leaves the caller with `TranslationUnavailable` so it shows the original text.

The providers block (deep-translator sets no timeouts), so calls run in a small thread pool. The
number of calls in flight is limited to the pool's size *before* a call is handed to the pool, so
a call's deadline measures the provider and not the queue in front of it: a busy transcript of 100
messages must not look like a provider outage.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bot.config import Settings
from bot.translation.breaker import CircuitBreaker
from bot.translation.cache import CacheKey, TranslationCache
from bot.translation.chunks import translate_in_pieces
from bot.translation.errors import TranslationConfigError, TranslationUnavailable
from bot.translation.protocol import AUTO, NoTranslation, TranslationProvider, language_code
from bot.translation.providers import provider_from_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Translation:
    """A text in the `target` language.

    `source` is the language asked for (None: the provider detected it). `machine` is False when no
    machine touched the text (same language, or nothing to translate); `provider` is then None. The
    console labels machine translations as such, because they can be wrong.
    """

    text: str
    source: str | None
    target: str
    provider: str | None
    machine: bool


class MachineTranslation:
    """Translates through one provider; one instance per process, used from one event loop."""

    def __init__(
        self,
        provider: TranslationProvider,
        *,
        timeout: float = 8.0,
        cooldown: float = 30.0,
        cache_size: int = 4096,
        workers: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._provider = provider
        self.timeout = timeout
        self._workers = workers
        self._breaker = CircuitBreaker(provider.name, cooldown, clock)
        self._cache = TranslationCache(cache_size)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lotse-translation")
        self._slots = asyncio.Semaphore(workers)
        self._closed = False

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        cooldown: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> MachineTranslation:
        """The service `LOTSE_TRANSLATION` and its variables describe; raises `TranslationConfigError`.

        `cooldown` defaults to `LOTSE_TRANSLATION_COOLDOWN`.
        """
        if not settings.translation_timeout > 0:
            raise TranslationConfigError(
                f"LOTSE_TRANSLATION_TIMEOUT={settings.translation_timeout!r}: expected seconds above 0"
            )
        if cooldown is None:
            cooldown = settings.translation_cooldown
        if not cooldown >= 0:
            raise TranslationConfigError(
                f"LOTSE_TRANSLATION_COOLDOWN={cooldown!r}: expected seconds, 0 or more"
            )
        provider = provider_from_settings(settings)
        return cls(provider, timeout=settings.translation_timeout, cooldown=cooldown, clock=clock)

    @property
    def provider_name(self) -> str:
        return self._provider.name

    @property
    def enabled(self) -> bool:
        return not isinstance(self._provider, NoTranslation)

    @property
    def available(self) -> bool:
        """Whether a call now would reach the provider (switched on, and not within an outage's cool-down)."""
        return self.enabled and not self._closed and not self._breaker.open

    @property
    def down_since(self) -> dt.datetime | None:
        """When the current outage began (UTC); None while the provider is considered up."""
        return self._breaker.down_since

    @property
    def status(self) -> str:
        """One line for the console's header and the logs."""
        if not self.enabled:
            return "machine translation is switched off"
        since = self._breaker.down_since
        if since is None:
            return f"{self.provider_name}: available"
        local = since.astimezone().strftime("%H:%M:%S")
        wait = self._breaker.retry_in()
        again = f"next try in {wait:.0f} s" if wait > 0 else "trying again"
        return f"{self.provider_name}: down since {local} ({self._breaker.last_error}); {again}"

    async def translate(self, text: str, source: str | None, target: str) -> Translation:
        """`text` in `target`; source None lets the provider detect the language.

        Raises `TranslationUnavailable` (or a subclass) when there is no translation within the
        deadline; never caches a failure, so the next call tries again (after the cool-down).
        """
        src = language_code(source) if source else None
        tgt = language_code(target)
        if not text.strip() or src == tgt:
            return Translation(text, src, tgt, None, False)
        key: CacheKey = (self.provider_name, src or AUTO, tgt, text)
        cached = self._cache.get(key)
        if cached is not None:
            return Translation(cached, src, tgt, self.provider_name, True)
        if self._closed:
            raise TranslationUnavailable("machine translation has been shut down")
        self._breaker.check()
        try:
            await asyncio.wait_for(self._slots.acquire(), self.timeout)
        except asyncio.TimeoutError:
            # The provider may be fine; Lotse is asking too much at once. No reason to open the breaker.
            raise TranslationUnavailable(
                f"{self.provider_name}: all {self._workers} translation slots stayed busy for {self.timeout:g} s"
            ) from None
        try:
            self._breaker.check()  # the provider may have gone down while this call waited for a slot
            translated = await self._call_provider(key)
        finally:
            self._slots.release()
        return Translation(translated, src, tgt, self.provider_name, True)

    async def translate_many(
        self, texts: Sequence[str], source: str | None, target: str, *, deadline: float | None = None
    ) -> list[Translation | None]:
        """Translations of a transcript in order; None where a text could not be translated in time.

        All texts are translated concurrently (repeated texts once) and the whole batch ends after
        `deadline` seconds, by default twice the per-call timeout: long enough for a slow but healthy
        provider to work through more texts than the pool has threads. A provider that is down is
        noticed by the first calls' own timeouts, and the circuit breaker ends the rest at once.
        """
        tasks: dict[str, asyncio.Task[Translation]] = {}
        for text in texts:
            if text not in tasks:
                tasks[text] = asyncio.ensure_future(self.translate(text, source, target))
        if tasks:
            budget = 2 * self.timeout if deadline is None else deadline
            _, pending = await asyncio.wait(tasks.values(), timeout=budget)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        done: dict[str, Translation | None] = {}
        for text, task in tasks.items():
            error = None if task.cancelled() else task.exception()
            if task.cancelled() or isinstance(error, TranslationUnavailable):
                done[text] = None
            elif error is not None:
                raise error  # a bug, not an outage: let it show
            else:
                done[text] = task.result()
        return [done[text] for text in texts]

    def forget(self, texts: set[str]) -> None:
        """Drop cached translations of or into these texts (a user erased their data: Engine.on_erase)."""
        self._cache.forget(texts)

    def close(self) -> None:
        """Stop the threads (without waiting for hanging calls) and close the provider's connections."""
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        close = getattr(self._provider, "close", None)
        if callable(close):
            close()

    async def _call_provider(self, key: CacheKey) -> str:
        abandoned = threading.Event()
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._pool, self._job, key, abandoned)
        except RuntimeError:  # the pool was shut down
            raise TranslationUnavailable("machine translation has been shut down") from None
        try:
            return await asyncio.wait_for(future, self.timeout)
        except asyncio.TimeoutError:
            abandoned.set()
            error = f"no answer within {self.timeout:g} s"
            self._failed(error)
            raise TranslationUnavailable(f"{self.provider_name}: {error}") from None
        except asyncio.CancelledError:
            abandoned.set()
            raise

    def _job(self, key: CacheKey, abandoned: threading.Event) -> str:
        """Runs in a pool thread. A result that comes after the caller gave up is still cached."""
        _, source, target, text = key
        self._breaker.check()
        provider = self._provider
        try:
            result = translate_in_pieces(
                text, provider.max_chars, lambda piece: provider.translate(piece, source, target)
            )
        except TranslationUnavailable as exc:
            if exc.provider_down and not abandoned.is_set():
                self._failed(str(exc))
            raise
        except Exception as exc:
            log.exception("translation provider %s raised an unexpected error", provider.name)
            # Only the type: an exception's text may quote the message, and this one reaches the console.
            error = TranslationUnavailable(f"{provider.name} failed: {type(exc).__name__}")
            if not abandoned.is_set():
                self._failed(str(error))
            raise error from exc
        self._cache.put(key, result)
        if not abandoned.is_set() and self._breaker.record_success():
            log.info("translation provider %s is available again", provider.name)
        return result

    def _failed(self, error: str) -> None:
        if self._breaker.record_failure(error):
            log.warning("translation provider %s is down: %s", self.provider_name, error)
