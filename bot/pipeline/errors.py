"""What channels raise when a delivery fails, so the sender knows whether to try again."""

from __future__ import annotations

from bot.errors import LotseError


class PipelineError(LotseError):
    """Base of the pipeline's errors."""


class DeliveryError(PipelineError):
    """A message could not be delivered this time."""


class RetryLater(DeliveryError):
    """The platform is overloaded or unreachable; `retry_after` when the platform said how long."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Undeliverable(DeliveryError):
    """Retrying cannot help (the user blocked the bot, the chat is gone, the request is invalid)."""
