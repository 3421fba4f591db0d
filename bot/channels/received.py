"""What a channel adapter hands the pipeline for one platform message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.engine.messages import Inbound


@dataclass(frozen=True)
class Received:
    inbound: Inbound
    external_id: str  # the platform's identity of the message, on which redeliveries are dropped
    # what the adapter needs back later, e.g. Telegram's callback id to stop a button's spinner
    meta: dict[str, Any] = field(default_factory=dict)
