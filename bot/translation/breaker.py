"""A circuit breaker, so that a provider that is down costs one deadline and not one per message.

Opening a transcript of 40 messages while LibreTranslate is down must not take 40 × 8 seconds. After
a failure that speaks about the provider (timeout, 5xx, refused key, unreachable), every call fails
at once for `cooldown` seconds; then calls go through again, and the first success closes the
breaker. There is no single "probe" call: the console translates a transcript in one batch, and
letting one probe through would leave all other messages of that batch untranslated.

The state is read by the worker threads too (a call queued behind a hanging one should not start
once the provider is known to be down), hence the lock.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

from bot.translation.errors import TranslationUnavailable


class CircuitBreaker:
    def __init__(
        self, name: str, cooldown: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._name = name
        self._cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: dt.datetime | None = None
        self._retry_at = 0.0
        self._last_error = ""

    @property
    def down_since(self) -> dt.datetime | None:
        """When the current outage began (UTC), or None while the provider is considered up."""
        with self._lock:
            return self._down_since

    @property
    def last_error(self) -> str:
        with self._lock:
            return self._last_error

    @property
    def open(self) -> bool:
        """True while calls fail fast (an outage within its cool-down)."""
        with self._lock:
            return self._down_since is not None and self._clock() < self._retry_at

    def retry_in(self) -> float:
        """Seconds until calls go through again; 0 when they do now."""
        with self._lock:
            if self._down_since is None:
                return 0.0
            return max(0.0, self._retry_at - self._clock())

    def check(self) -> None:
        """Raise `TranslationUnavailable` at once while the breaker is open."""
        with self._lock:
            if self._down_since is None or self._clock() >= self._retry_at:
                return
            since = self._down_since.astimezone().strftime("%H:%M:%S")
            wait = self._retry_at - self._clock()
            error = self._last_error
        raise TranslationUnavailable(
            f"{self._name} is down since {since} ({error}); next try in {wait:.0f} s"
        )

    def record_failure(self, error: str) -> bool:
        """Open (or keep open) the breaker; True when this failure began an outage.

        An outage keeps the time it began, so the console can say how long the provider has been down.
        """
        with self._lock:
            began = self._down_since is None
            if began:
                self._down_since = dt.datetime.now(dt.timezone.utc)
            self._retry_at = self._clock() + self._cooldown
            self._last_error = error
            return began

    def record_success(self) -> bool:
        """Close the breaker; True when this success ended an outage."""
        with self._lock:
            ended = self._down_since is not None
            self._down_since = None
            self._retry_at = 0.0
            self._last_error = ""
            return ended
