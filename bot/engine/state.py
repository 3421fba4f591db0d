"""The conversation state the dialogue reads and changes; storage persists it as it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ConversationState:
    conversation_id: int
    user_id: int
    status: str = "bot"  # bot | human (a caseworker owns the chat)
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
    """A recorded wish for a person; routing and the console come with the handover issue."""

    reason: str  # user_request | emergency | deadline | misunderstanding
    priority: int  # 0 emergency, 1 deadline, 2 normal
    team_id: str | None


PRIORITY = {"emergency": 0, "deadline": 1, "user_request": 2, "misunderstanding": 2}
