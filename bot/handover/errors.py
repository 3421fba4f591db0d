"""Why a caseworker's action on a handover was refused; the console turns each into a clear message."""

from __future__ import annotations

from bot.errors import LotseError


class HandoverError(LotseError):
    """Base of the handover package's errors."""


class CaseNotFound(HandoverError):
    """No such handover, or one the caseworker may not see (the two are not told apart)."""


class NotAllowed(HandoverError):
    """The caseworker's role does not allow this action."""


class CaseConflict(HandoverError):
    """The case changed meanwhile: closed, or taken by a colleague."""


class InvalidAction(HandoverError):
    """The request makes no sense as it is: an empty note, an unknown team or colleague."""
