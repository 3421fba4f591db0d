"""Telegram's flood control, remembered for every call the bot makes.

A 429 tells the bot how long to wait (`retry_after`), and calling again before that only prolongs
the wait. The outbox sender pauses its own sends, but the typing indicator and the answers to
button presses are sent by the inbox worker, which knows nothing of that pause. So the channel
itself remembers the wait: courtesy calls are skipped while it lasts (they would be stale when it
ends), and messages wait for its end. Flood control may be bot-wide, so one wait holds for all chats.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class FloodWait:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = 0.0

    def told(self, seconds: float) -> None:
        """Telegram answered 429 with `retry_after` = `seconds`."""
        self._until = max(self._until, self._clock() + seconds)

    def remaining(self) -> float:
        """Seconds until the bot may call Telegram again; 0 when it may now."""
        return max(0.0, self._until - self._clock())
