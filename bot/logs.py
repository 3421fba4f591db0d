"""How `lotse serve` logs, so that its log never carries what people wrote, who they are, or a secret.

Logs are copied, shipped and kept far longer and more widely than the database, so the first rule is
that Lotse's own log lines name people only by a keyed pseudonym (`bot.pseudonyms.who`) and never
quote a message. Libraries do not follow that rule: python-telegram-bot logs every request's
parameters (chat id, text) at DEBUG, httpx logs request URLs at INFO (the Bot API URL contains the
bot token), aiosqlite and SQLAlchemy log statement parameters, Rasa logs the parsed text, and uvicorn's
access log carries client addresses and query strings (the WhatsApp handshake's verify token). So,
whatever `LOTSE_LOG_LEVEL` says:

- below WARNING only Lotse's own loggers (and uvicorn's server messages) are written;
- the access log (on at DEBUG) is written without client address and query string;
- tracebacks keep where an error happened and its type, but not its message: a database error quotes
  the row it failed on, a translation library the text it could not translate;
- as a second line, every written line is scrubbed of the configured secrets, Bot API tokens and long
  digit runs (phone numbers, Telegram ids).
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import TextIO

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config import Settings
from bot.pseudonyms import LogSettingsError, load_key, use_key

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
# Loggers whose lines are written by this project (or are about the server, not its users) and may
# be written below WARNING. Everything else is a library that may quote data it was given.
OWN_LOGGERS = ("bot", "uvicorn.error", "uvicorn.access")
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
WITHHELD = "(message withheld: it may quote personal data)"
MIN_SECRET_LENGTH = 6  # shorter configured values would blank out ordinary words

_TOKEN_IN_URL = re.compile(r"/bot\d+:[^/\s'\"]+")
_TELEGRAM_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")
# Seven or more digits standing alone: phone numbers, Telegram user and chat ids. Not inside words,
# so that a pseudonym's hex digits ("u:3f41234567ab") and decimals stay as they are.
_LONG_NUMBER = re.compile(r"(?<![\w:.])\+?\d{7,}(?![\w.])")


def log_level(settings: Settings) -> int:
    """`LOTSE_LOG_LEVEL` (debug, info, warning, error); without it INFO under LOTSE_DEBUG, else WARNING."""
    name = settings.log_level.strip().lower()
    if not name:
        return logging.INFO if settings.debug else logging.WARNING
    if name not in LEVELS:
        raise LogSettingsError(f"LOTSE_LOG_LEVEL={settings.log_level!r}: expected one of {', '.join(LEVELS)}")
    return LEVELS[name]


def configure(settings: Settings, stream: TextIO | None = None, tag: str = "") -> int:
    """Set up the process's logging for `lotse serve` and install the pseudonym key; returns the level.

    `tag` names the process in every line (`lotse serve --workers N` writes "w0", "w1", ... into one
    log), so that an operator can tell which worker wrote what.
    """
    level = log_level(settings)
    use_key(load_key(settings.log_key, settings.var_dir))
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(PrivateFormatter(configured_secrets(settings), tag))
    handler.addFilter(OwnLinesBelowWarning())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(max(level, logging.WARNING))
    logging.getLogger("bot").setLevel(level)
    logging.getLogger("bot.live").setLevel(min(level, logging.INFO))  # editors watch for reloads
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLineWithoutPersonalData) for f in access.filters):
        access.addFilter(AccessLineWithoutPersonalData())
    logging.captureWarnings(True)  # library warnings pass through the same scrubbing
    sys.excepthook = _log_uncaught  # a crash's traceback, too, without exception messages
    return level


def _log_uncaught(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, trace)
        return
    logging.getLogger("bot").critical("lotse stopped on an unexpected error", exc_info=(kind, error, trace))


def configured_secrets(settings: Settings) -> list[str]:
    """Every secret Lotse was configured with, so that the formatter can blank them out."""
    values = [
        settings.telegram_token,
        settings.telegram_webhook_secret,
        settings.whatsapp_token,
        settings.whatsapp_app_secret,
        settings.whatsapp_verify_token,
        settings.libretranslate_api_key,
        settings.deepl_api_key,
        settings.microsoft_translator_key,
        settings.log_key,
        settings.secret_key,
    ]
    if settings.database_url:
        with contextlib.suppress(ArgumentError, ValueError):  # a broken URL fails elsewhere, clearly
            values.append(make_url(settings.database_url).password or "")
    return [value for value in values if len(value) >= MIN_SECRET_LENGTH]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """The second line of defence: blank out secrets, Bot API tokens and long digit runs."""
    for secret in secrets:
        text = text.replace(secret, "[secret]")
    text = _TOKEN_IN_URL.sub("/bot[secret]", text)
    text = _TELEGRAM_TOKEN.sub("[secret]", text)
    return _LONG_NUMBER.sub("[number]", text)


class OwnLinesBelowWarning(logging.Filter):
    """Below WARNING, only Lotse's own lines: libraries log request parameters and texts at INFO/DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return any(record.name == name or record.name.startswith(name + ".") for name in OWN_LOGGERS)


class AccessLineWithoutPersonalData(logging.Filter):
    """uvicorn's access line without the client's address and the query string.

    A web chat user's IP address is personal data, and query strings carry the WhatsApp verify token.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            _client, method, path, version, status = args
            record.args = ("-", method, str(path).split("?", 1)[0], version, status)
        return True


class PrivateFormatter(logging.Formatter):
    """Formats lines with tracebacks that withhold exception messages, then scrubs the whole line."""

    def __init__(self, secrets: Iterable[str] = (), tag: str = "") -> None:
        super().__init__(LINE_FORMAT.replace("%(name)s", f"{tag} %(name)s") if tag else LINE_FORMAT)
        # longest first, so that a secret containing another is blanked out whole
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)

    def formatException(
        self,
        ei: tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None],
    ) -> str:
        return withheld_traceback(ei[1])


def withheld_traceback(exc: BaseException | None) -> str:
    """A traceback with every frame and exception type, but messages only of operating-system errors.

    An OSError says which address or file failed (useful, and not about a person); any other message
    may quote data: a database error its parameters, a translation library the text.
    """
    if exc is None:
        return ""
    parts: list[str] = []
    for number, error in enumerate(_chain(exc)):
        if number:
            parts.append("\nDuring handling of the above exception, another exception occurred:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(error.__traceback__))
        kind = type(error)
        message = str(error) if isinstance(error, OSError) else WITHHELD
        parts.append(f"{kind.__module__}.{kind.__qualname__}: {message}\n")
    return "".join(parts).rstrip("\n")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its causes, oldest first, as Python prints them."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return reversed(chain)
