"""Why a chat went to a person, and how urgent that makes it.

Three levels, because a caseworker's queue must be readable at a glance: acute danger first, then
a legal deadline (a rejected asylum claim leaves one or two weeks to sue), then everything else.
"""

from __future__ import annotations

EMERGENCY, DEADLINE, NORMAL = 0, 1, 2

REASON_PRIORITY: dict[str, int] = {
    "emergency": EMERGENCY,
    "deadline": DEADLINE,
    "user_request": NORMAL,
    "misunderstanding": NORMAL,
}


def priority_of(reason: str) -> int:
    return REASON_PRIORITY.get(reason, NORMAL)
