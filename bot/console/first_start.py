"""The first console accounts, for a database that has none.

Without any account nobody could log in to create one in the console, so `lotse serve` creates an
administrator (`admin`) and, for the demo, a team lead who sees every team's chats (`leitung`). Their
random passwords are written to a file in `var/` that only the server's user can read, never to
stdout: stdout ends up in the journal or a container log, which is kept, shipped and read by more
people than the console's administrators. The file is meant to be read once and deleted; every
start reminds the operator while it is still there.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from bot.console.accounts import Accounts, Actor, generate_password
from bot.console.errors import InvalidAccount
from bot.keys import KeyFileError, write_private

PASSWORD_FILE = "console-passwords.txt"
FIRST_ACCOUNTS = (
    ("admin", "admin", "Verwaltung", "accounts, audit log"),
    ("leitung", "lead", "Demo-Teamleitung", "team lead: every team's chats"),
)
STARTED = Actor(None, "lotse serve (first start)")


def password_file(var_dir: Path) -> Path:
    return var_dir / PASSWORD_FILE


async def create_first_accounts(accounts: Accounts, var_dir: Path) -> Path | None:
    """Create the first accounts if there are none; returns the password file, or None if nothing was created.

    Another worker starting at the same moment may win the race for the first account; this one
    then leaves accounts and file alone.
    """
    if await accounts.any_exist():
        return None
    lines = [
        f"# Lotse: the first console accounts, created {dt.date.today().isoformat()}.",
        "# Log in at /console/, change each password under 'Passwort ändern', then delete this file.",
    ]
    for username, role, display_name, what in FIRST_ACCOUNTS:
        password = generate_password()
        try:
            await accounts.create(username, password, role, display_name=display_name, by=STARTED)
        except (InvalidAccount, IntegrityError):  # the unique username: another worker made it
            if username == FIRST_ACCOUNTS[0][0]:
                return None  # that worker creates the rest and writes the file
            raise
        lines.append(f"{username}  {password}  ({what})")
    path = password_file(var_dir)
    path.unlink(missing_ok=True)  # left from an earlier database: its passwords are void
    try:
        write_private(path, "\n".join(lines) + "\n")
    except (KeyFileError, FileExistsError) as exc:
        raise KeyFileError(
            f"the first console accounts exist, but their passwords could not be written to {path} ({exc}); "
            "set new ones with `lotse staff password admin` and `lotse staff password leitung`"
        ) from None
    return path
