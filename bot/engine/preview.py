"""An answer exactly as a refugee would get it, for the editors' console: no user, no database.

The preview runs the real dialogue on a conversation that exists only in memory, so whatever an
editor sees (the catalog's translation or the German fallback, the "(automatic translation)"
marker, the buttons, the opening hours at this moment) is what the bot would send. A preview is a
chain of button presses (`topic:kita.place`, then `age:u3`, ...), replayed from the start each
time: the console stays stateless, and a press deep in a chain sees the slots the earlier presses
filled, as a real chat would.

The conversation is not new (no privacy notice in front of every answer) and its language is set
as if the person had chosen it, so that language identification never overrides it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from bot.engine.dialogue import Dialogue
from bot.engine.messages import Inbound, Outbound
from bot.engine.state import ConversationState
from bot.engine.understanding import EMPTY_PARSE

PREVIEW_CHANNEL = "preview"
MAX_STEPS = 8  # a longer chain is no answer an editor checks; it only costs CPU
MAX_PAYLOAD = 128  # the messages table's payload column


@dataclass(frozen=True)
class Exchange:
    """One press and what the bot answered to it."""

    payload: str
    pressed: str | None  # the button's title as the person saw it; None when it was not on screen
    language: str  # the answer's language (a `lang:` press changes it)
    messages: tuple[Outbound, ...]


def preview(
    dialogue: Dialogue,
    payloads: Sequence[str],
    language: str,
    town: str | None,
    now: dt.datetime,
) -> list[Exchange]:
    """Press `payloads` one after the other in a fresh in-memory chat; the answers, in order.

    Nothing is stored and nothing is sent: even a press that would ask for a person only fills
    the in-memory state. Chains longer than `MAX_STEPS` and over-long payloads are cut.
    """
    state = ConversationState(
        conversation_id=0, user_id=0, language=language, language_explicit=True, town=town
    )
    exchanges: list[Exchange] = []
    shown: tuple[Outbound, ...] = ()
    for payload in payloads[:MAX_STEPS]:
        payload = payload[:MAX_PAYLOAD]
        inbound = Inbound(PREVIEW_CHANNEL, PREVIEW_CHANNEL, payload=payload)
        turn = dialogue.respond(state, inbound, EMPTY_PARSE, None, now)
        pressed = next((b.title for m in shown for b in m.buttons if b.payload == payload), None)
        shown = tuple(turn.messages)
        exchanges.append(Exchange(payload, pressed, turn.language, shown))
    return exchanges
