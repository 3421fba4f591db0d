"""Long polling: getUpdates, store each update in the inbox, and only then confirm it.

Telegram forgets an update once a later getUpdates call passes an offset beyond it, so the offset
moves on only after the updates are stored. A crash in between means Telegram sends them again,
and the inbox's deduplication turns that into nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TelegramError

from bot.channels.received import Received
from bot.channels.telegram.client import TelegramChannel, retry_seconds
from bot.channels.telegram.convert import to_inbound

log = logging.getLogger(__name__)


class TelegramPoller:
    def __init__(
        self,
        channel: TelegramChannel,
        accept: Callable[[Received], Awaitable[object]],
        timeout: int = 30,
    ) -> None:
        self.channel = channel
        self.accept = accept
        self.timeout = timeout
        self.offset: int | None = None

    async def run(self) -> None:
        backoff = 1.0
        while True:
            try:
                updates = await self.channel.bot.get_updates(
                    offset=self.offset,
                    timeout=self.timeout,
                    allowed_updates=["message", "edited_message", "callback_query"],
                )
                await self.store(updates)
                backoff = 1.0
            except RetryAfter as exc:
                await asyncio.sleep(retry_seconds(exc))
            except (Conflict, InvalidToken) as exc:
                log.error("Telegram long polling refused: %s", exc)
                await asyncio.sleep(30)
            except (NetworkError, TelegramError) as exc:
                log.warning("Telegram long polling failed: %s; again in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            except Exception:  # the database is away: do not confirm, try again
                log.exception("storing polled updates failed")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def store(self, updates: tuple[Update, ...]) -> None:
        for update in updates:
            received = to_inbound(update)
            if received is not None:
                await self.accept(received)
            self.offset = update.update_id + 1
