"""Per-installation keys and private files under `var/`.

Some keys must be the same in every process of one installation and across restarts, yet must never
sit in the repository: the console's login-form key (several `lotse serve` workers behind one
address must accept each other's forms) is one. Such a key comes from the environment, or else is
generated once into `var/` with mode 0600 by whichever process starts first. The file is created
exclusively, so two workers starting at the same moment end up with the same key instead of each
writing its own.

The same exclusive, owner-only creation serves files that hold a secret meant for one person, such
as the first start's console passwords.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from bot.errors import LotseError

MIN_KEY_LENGTH = 16


class KeyFileError(LotseError):
    """A configured key is too short, or a key file cannot be created or read."""


def installation_key(configured: str, var_dir: Path, file_name: str, variable: str) -> bytes:
    """The key from `configured` (the environment variable `variable`), else from `var_dir/file_name`.

    The file is created on first use with 64 random hex digits, readable only by its owner.
    """
    if configured:
        if len(configured) < MIN_KEY_LENGTH:
            raise KeyFileError(f"{variable} must have at least {MIN_KEY_LENGTH} characters")
        return configured.encode("utf-8")
    path = var_dir / file_name
    try:
        return _read_key(path, variable)
    except FileNotFoundError:
        pass
    try:
        write_private(path, secrets.token_hex(32))
    except FileExistsError:  # another process created it a moment ago and may still be writing
        return _read_when_written(path, variable)
    return _read_key(path, variable)


def derive(key: bytes, purpose: str) -> bytes:
    """A separate key per use of one installation key, so that no use can stand in for another."""
    return hmac.new(key, purpose.encode("utf-8"), hashlib.sha256).digest()


def write_private(path: Path, text: str) -> None:
    """Create `path` with mode 0600 and write `text`; `FileExistsError` if it exists.

    The mode is set at creation (not changed afterwards), so the content is never readable by others,
    not even for a moment, whatever the umask.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise
    except OSError as exc:
        raise KeyFileError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


def _read_when_written(path: Path, variable: str, patience: float = 2.0) -> bytes:
    deadline = time.monotonic() + patience
    while True:
        try:
            return _read_key(path, variable)
        except KeyFileError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _read_key(path: Path, variable: str) -> bytes:
    try:
        key = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise KeyFileError(f"cannot read the key {path}: {exc.strerror}") from None
    if len(key) < MIN_KEY_LENGTH:  # being written by another process right now, or emptied
        raise KeyFileError(f"the key {path} is too short; delete it to create a new one, or set {variable}")
    return key.encode("utf-8")
