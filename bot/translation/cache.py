"""A small in-memory LRU cache of translations, whose entries live at most `lifetime` seconds.

Caseworkers reopen the same conversation many times and canned replies repeat, so most requests are
repeats. The cache lives in memory only: translations are personal data like the messages
themselves, and the messages' own retention rules should not need a second place to enforce them.

Two rules keep it from outliving the data it copies. When a user erases their data, the process
that handled the erasure purges the entries for their texts (`forget`). Other worker processes
cannot hear of it, so every entry expires after `lifetime` (ten minutes by default; the transcript
keeps its German in the database anyway, so the cache only saves repeated calls within a session).
Worker threads write to it (a translation that arrives after its caller gave up is still kept for
the next look), hence the lock.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection

CacheKey = tuple[str, str, str, str]
"""(provider, source or "auto", target, text)"""

LIFETIME = 600.0  # seconds an entry is kept at most, see the module's note


class TranslationCache:
    def __init__(
        self, size: int = 4096, lifetime: float = LIFETIME, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._size = size
        self._lifetime = lifetime
        self._clock = clock
        self._entries: OrderedDict[CacheKey, tuple[str, float]] = OrderedDict()  # value, expiry
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> str | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: CacheKey, value: str) -> None:
        if self._size <= 0 or self._lifetime <= 0:
            return
        with self._lock:
            self._entries[key] = (value, self._clock() + self._lifetime)
            self._entries.move_to_end(key)
            self._expire()
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def forget(self, texts: Collection[str]) -> int:
        """Drop every entry whose source text or translation is one of `texts`; how many went."""
        if not texts:
            return 0
        wanted = set(texts)
        with self._lock:
            gone = [key for key, (value, _) in self._entries.items() if key[3] in wanted or value in wanted]
            for key in gone:
                del self._entries[key]
            return len(gone)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._entries)

    def _expire(self) -> None:
        """Drop expired entries from the old end (entries are ordered by last use, expiries nearly so)."""
        now = self._clock()
        stale = [key for key, (_, expiry) in self._entries.items() if expiry <= now]
        for key in stale:
            del self._entries[key]
