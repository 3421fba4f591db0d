"""What a channel adapter hands the pipeline for one platform message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.engine.messages import Inbound


@dataclass(frozen=True)
class Received:
    inbound: Inbound
    external_id: str  # the platform's identity of the message, on which redeliveries are dropped
    meta: dict[str, Any] = field(
        default_factory=dict
    )  # what the adapter needs back later (e.g. to acknowledge)
