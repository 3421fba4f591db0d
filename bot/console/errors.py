"""Console errors: one hierarchy, so the CLI prints them and the web layer maps them to pages."""

from __future__ import annotations

import datetime as dt

from bot.errors import LotseError


class ConsoleError(LotseError):
    """A console operation failed for a reason meant for the person doing it."""


class InvalidAccount(ConsoleError):
    """Bad input for an account: unknown role or team, empty or taken username, weak password."""


class UnknownStaff(ConsoleError):
    """No staff account has this username."""


class LoginFailed(ConsoleError):
    """Wrong username or password, or the account is disabled.

    Deliberately one error for all three, so that the login page does not tell an attacker which
    usernames exist.
    """


class AccountLocked(LoginFailed):
    """Too many failed logins; the account is locked until `until`."""

    def __init__(self, message: str, until: dt.datetime) -> None:
        super().__init__(message)
        self.until = until
