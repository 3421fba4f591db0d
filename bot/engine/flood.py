"""Per-user flood control: someone sending very many messages quickly is read, not answered.

A person in a hurry may send a dozen short messages in a minute; a script, a stuck key or a
forwarding loop sends a hundred. Answering each of those would bury the user's chat in replies
(Telegram delivers about one message a second per chat, so the answers would arrive for minutes)
and take the workers away from everybody else. Over the limit a message is still stored (the
caseworker sees it, `/mydata` exports it) and its inbox row is completed as always, so nothing is
lost or processed twice; only the answer is left out. The first message over the limit gets one
polite notice; the bot answers again once the user's last minute is back under the limit.

Two things always get through: the safety net (someone in danger gets the emergency numbers even
in the middle of a flood) and the privacy commands (`/delete` must never depend on good behaviour).

The count comes from the stored transcript, inside the turn's transaction, so several worker
processes on one database agree on it: nothing is held in one process's memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from bot.engine.messages import Inbound
from bot.engine.state import ConversationState
from bot.engine.store import Transaction

# 20 a minute is one message every three seconds for a whole minute: more than a person typing
# (a pasted letter that the app splits into parts is a handful) and already more answers than
# Telegram delivers to one chat in that minute (about one message a second, 1-3 per answer).
DEFAULT_FLOOD_LIMIT = 20
FLOOD_WINDOW = dt.timedelta(seconds=60)
NOTICE_SENT = "flood_notice_sent"  # conversation slot: the notice of the current flood went out
THROTTLED_INTENT = "flood_throttled"


@dataclass(frozen=True)
class FloodControl:
    """How many messages a user may send in `window` and still get an answer to each; 0 is no limit."""

    limit: int = DEFAULT_FLOOD_LIMIT
    window: dt.timedelta = FLOOD_WINDOW

    async def flooding(
        self, tx: Transaction, state: ConversationState, inbound: Inbound, now: dt.datetime
    ) -> bool:
        """Whether this message is over the limit: `limit` earlier ones fall within the window before it.

        The window ends when the user sent the message (as the transcript stores it), so that a
        backlog processed after an outage is judged by how the user wrote, not by how fast it is
        worked off. While a caseworker owns the chat the bot is silent anyway: no count, no notice.
        """
        if self.limit <= 0 or state.is_new or state.status == "human":
            return False
        sent = min(inbound.sent_at, now) if inbound.sent_at is not None else now
        recent = await tx.recent_inbound(state, since=sent - self.window, at_most=self.limit)
        return recent >= self.limit


def notice(_: Callable[[str], str]) -> str:
    """The one message a flooding user gets, in their language."""
    return _(
        "Sie schreiben gerade sehr viele Nachrichten. Alle sind gespeichert, aber ich antworte erst in etwa einer Minute wieder. Schreiben Sie mir Ihre Frage dann bitte noch einmal in einer Nachricht."
    )
