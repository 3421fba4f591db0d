"""Keyed pseudonyms for people in log lines.

A log line sometimes has to say *whose* message failed, so that an operator can follow one person's
trouble across lines and a caseworker can find it on request. A raw Telegram id or WhatsApp phone
number would put personal data into every log file and every log shipper; a plain hash of it would
not help, since all phone numbers can be hashed in an afternoon. An HMAC with a key that never leaves
the server gives a stable, short name that cannot be reversed without the key.

The key comes from `LOTSE_LOG_KEY`; without it a random key is created once in `var/log.key` (mode
0600), so that a person keeps their pseudonym across restarts. Until `lotse serve` installs the key
(`use_key`), a process uses a random key of its own: pseudonyms then stay stable within the process
and never depend on a file the process did not mean to create.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from bot.errors import LotseError
from bot.keys import installation_key

KEY_FILE = "log.key"
HEX_DIGITS = 12  # 48 bits: collisions stay unlikely among a district's few hundred thousand people

_key: bytes | None = None


class LogSettingsError(LotseError):
    """A log setting is unusable: an unknown level (key problems raise `bot.keys.KeyFileError`)."""


def pseudonym(channel: str, user_id: str | int, key: bytes) -> str:
    """`u:` and the first hex digits of HMAC-SHA256(key, "channel:user id")."""
    digest = hmac.new(key, f"{channel}:{user_id}".encode(), hashlib.sha256).hexdigest()
    return f"u:{digest[:HEX_DIGITS]}"


def who(channel: str, user_id: str | int) -> str:
    """The pseudonym under the key this process logs with; use it wherever a log names a person."""
    global _key
    if _key is None:
        _key = secrets.token_bytes(32)
    return pseudonym(channel, user_id, _key)


def use_key(key: bytes) -> None:
    """Make `who` use this key from now on (`lotse serve` does so before it logs anything)."""
    global _key
    _key = key


def load_key(configured: str, var_dir: Path) -> bytes:
    """The configured key, or the one kept in `var_dir`, created with mode 0600 on first use."""
    return installation_key(configured, var_dir, KEY_FILE, "LOTSE_LOG_KEY")
