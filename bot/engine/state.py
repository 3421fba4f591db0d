"""The conversation state the dialogue reads and changes; storage persists it as it is."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ConversationState:
    conversation_id: int
    user_id: int
    # bot | waiting (for a caseworker; the bot still answers) | human (a caseworker owns the chat)
    status: str = "bot"
    language: str | None = None
    language_explicit: bool = False
    town: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    misses: int = 0
    is_new: bool = False

    def slot(self, name: str) -> Any:
        return self.slots.get(name)

    def set_slot(self, name: str, value: Any) -> None:
        if value is None:
            self.slots.pop(name, None)
        else:
            self.slots[name] = value


@dataclass(frozen=True)
class HandoverRequest:
    """The user agreed to hand the chat to a person: what storage needs to queue it.

    When a handover is already open, storage raises its priority instead of opening a second one.
    """

    reason: str  # user_request | emergency | deadline | misunderstanding
    priority: int  # see bot.handover.priority
    team_id: str | None
    due_at: dt.datetime  # first-response deadline, counted in the team's office hours
