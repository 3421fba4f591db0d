"""A small in-memory LRU cache of translations.

Caseworkers reopen the same conversation many times and canned replies repeat, so most requests are
repeats. The cache lives in memory only: translations are personal data like the messages
themselves, and the messages' own retention rules should not need a second place to enforce them.
Worker threads write to it (a translation that arrives after its caller gave up is still kept for
the next look), hence the lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

CacheKey = tuple[str, str, str, str]
"""(provider, source or "auto", target, text)"""


class TranslationCache:
    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._entries: OrderedDict[CacheKey, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> str | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: CacheKey, value: str) -> None:
        if self._size <= 0:
            return
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
