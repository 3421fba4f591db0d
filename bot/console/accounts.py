"""Staff accounts and console sessions.

Passwords are hashed with argon2id (memory-hard, the OWASP recommendation), and verification runs
in a worker thread so that a login does not stall the message pipeline sharing the event loop.

Login throttling is per account: five failed attempts lock it for fifteen minutes, and a locked
account refuses even the right password, so guessing stays at a few attempts per quarter hour. An
unknown username still costs one hash verification, so response times do not reveal which
usernames exist.

Sessions live in the database, keyed by the SHA-256 of the random cookie token: changing a password
or disabling an account ends every session at once, and a copy of the database opens no session.

Every change to an account names who made it (`Actor`: a console user or the command line) and is
written to the audit log in the same transaction as the change, so the log cannot miss a change
that happened. Passwords never reach the log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.console.errors import AccountLocked, InvalidAccount, LoginFailed, UnknownStaff
from bot.storage.database import as_utc
from bot.storage.tables import audit_log, staff, staff_sessions

ROLES = ("caseworker", "lead", "editor", "admin")
MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
SESSION_LIFETIME = dt.timedelta(hours=8)  # one working day
SEEN_EVERY = dt.timedelta(minutes=1)  # how often `last_seen_at` is written, not on every request
MIN_PASSWORD_LENGTH = 12
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


@dataclass(frozen=True)
class Staff:
    id: int
    username: str
    display_name: str
    role: str
    teams: tuple[str, ...]
    active: bool


@dataclass(frozen=True)
class Actor:
    """Who changes an account, as the audit log names them."""

    staff_id: int | None
    username: str

    @classmethod
    def of(cls, account: Staff) -> Actor:
        return cls(account.id, account.username)

    @classmethod
    def command_line(cls) -> Actor:
        """`lotse staff` on the server: the operating-system user, since no console account is involved."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # a container user without a passwd entry
            user = "?"
        return cls(None, f"cli:{user}"[:64])


@dataclass(frozen=True)
class Session:
    """A logged-in staff member, as one request sees it."""

    staff: Staff
    csrf_token: str
    expires_at: dt.datetime


def generate_password() -> str:
    """A random password of 24 URL-safe characters (144 bits), shown once to the person it is for."""
    return secrets.token_urlsafe(18)


def token_digest(token: str) -> str:
    """The stored key of a session: only the hash of the cookie token is kept."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else as_utc(moment)


def _staff(row: Any) -> Staff:
    return Staff(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        teams=tuple(row.teams or ()),
        active=bool(row.active),
    )


class Accounts:
    """Account and session operations; each method is one short transaction."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
        session_lifetime: dt.timedelta = SESSION_LIFETIME,
    ) -> None:
        self.engine = engine
        self.hasher = hasher or PasswordHasher()  # argon2id with the library's (RFC 9106) parameters
        self.clock = clock
        self.session_lifetime = session_lifetime
        self._dummy_hash: str | None = None

    # accounts

    async def create(
        self,
        username: str,
        password: str,
        role: str,
        teams: Iterable[str] = (),
        display_name: str | None = None,
        known_teams: Iterable[str] | None = None,
        by: Actor | None = None,
    ) -> Staff:
        username = username.strip().lower()
        if not _USERNAME.match(username):
            raise InvalidAccount(
                f"invalid username {username!r}: 2 to 64 characters, lowercase letters, digits, '.', '_', '-'"
            )
        if role not in ROLES:
            raise InvalidAccount(f"unknown role {role!r}; known: {', '.join(ROLES)}")
        team_ids = list(dict.fromkeys(teams))
        if known_teams is not None:
            known = sorted(known_teams)
            unknown = [t for t in team_ids if t not in known]
            if unknown:
                raise InvalidAccount(f"unknown team {unknown[0]!r}; known: {', '.join(known)}")
        _check_password(password)
        password_hash = await asyncio.to_thread(self.hasher.hash, password)
        now = self.clock()
        async with self.engine.begin() as conn:
            exists = (await conn.execute(sa.select(staff.c.id).where(staff.c.username == username))).first()
            if exists is not None:
                raise InvalidAccount(f"a staff account {username!r} exists already")
            inserted = await conn.execute(
                sa.insert(staff).values(
                    username=username,
                    display_name=(display_name or username).strip(),
                    password_hash=password_hash,
                    role=role,
                    teams=team_ids,
                    active=True,
                    failed_logins=0,
                    password_changed_at=now,
                    created_at=now,
                )
            )
            staff_id = int(inserted.inserted_primary_key[0])
            await _audit(conn, by, "staff_add", f"{username} ({role})", now)
        return Staff(staff_id, username, (display_name or username).strip(), role, tuple(team_ids), True)

    async def list(self) -> list[Staff]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(staff).order_by(staff.c.username))).all()
        return [_staff(row) for row in rows]

    async def get(self, username: str) -> Staff:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(sa.select(staff).where(staff.c.username == username.strip().lower()))
            ).first()
        if row is None:
            raise UnknownStaff(f"no staff account {username!r}")
        return _staff(row)

    async def any_exist(self) -> bool:
        """Whether any account exists: a fresh demo start creates the first admin."""
        async with self.engine.connect() as conn:
            return (await conn.execute(sa.select(staff.c.id).limit(1))).first() is not None

    async def disable(self, username: str, by: Actor | None = None) -> None:
        """Disable an account and end its sessions; the row stays, for the audit trail."""
        account = await self.get(username)
        async with self.engine.begin() as conn:
            await conn.execute(sa.update(staff).where(staff.c.id == account.id).values(active=False))
            await conn.execute(sa.delete(staff_sessions).where(staff_sessions.c.staff_id == account.id))
            await _audit(conn, by, "staff_disable", account.username, self.clock())

    async def enable(self, username: str, by: Actor | None = None) -> Staff:
        """Enable a disabled account again, with its failed-login count and lock cleared.

        The password stays what it was: if the account was disabled because the password leaked,
        set a new one too (`set_password`).
        """
        account = await self.get(username)
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(staff)
                .where(staff.c.id == account.id)
                .values(active=True, failed_logins=0, locked_until=None)
            )
            await _audit(conn, by, "staff_enable", account.username, self.clock())
        return await self.get(username)

    async def set_password(
        self, username: str, password: str, keep_session: str | None = None, by: Actor | None = None
    ) -> None:
        """Set a new password and end every session of the account except `keep_session` (a cookie token).

        Whoever might have been logged in with the old password is logged out. This is the reset by
        an administrator or the command line, so it needs no current password; people changing their
        own password go through `change_password`.
        """
        account = await self.get(username)
        _check_password(password)
        password_hash = await asyncio.to_thread(self.hasher.hash, password)
        async with self.engine.begin() as conn:
            await self._store_password(conn, account.id, password_hash)
            ending = sa.delete(staff_sessions).where(staff_sessions.c.staff_id == account.id)
            if keep_session is not None:
                ending = ending.where(staff_sessions.c.id != token_digest(keep_session))
            await conn.execute(ending)
            await _audit(conn, by, "staff_password", account.username, self.clock())

    async def change_password(self, username: str, current: str, new: str) -> tuple[str, Session]:
        """Change one's own password: every session of the account ends, and a new one begins.

        The current password is checked like a login (wrong guesses count towards the lock), so a
        session left open on a shared computer is not enough to take the account over for good. The
        new session has a new cookie token: a token that may have leaked with the old password is
        worth nothing afterwards. Returns the new cookie token and session.
        """
        _check_password(new)
        if hmac.compare_digest(new.encode("utf-8"), current.encode("utf-8")):
            raise InvalidAccount("the new password must differ from the current one")
        account = await self.authenticate(username, current)
        password_hash = await asyncio.to_thread(self.hasher.hash, new)
        async with self.engine.begin() as conn:
            await self._store_password(conn, account.id, password_hash)
            await conn.execute(sa.delete(staff_sessions).where(staff_sessions.c.staff_id == account.id))
            token, session = await self._insert_session(conn, account.id)
            await _audit(conn, Actor.of(account), "password_change", None, self.clock())
        return token, session

    async def _store_password(self, conn: AsyncConnection, staff_id: int, password_hash: str) -> None:
        await conn.execute(
            sa.update(staff)
            .where(staff.c.id == staff_id)
            .values(
                password_hash=password_hash,
                password_changed_at=self.clock(),
                failed_logins=0,
                locked_until=None,
            )
        )

    # login

    async def authenticate(self, username: str, password: str) -> Staff:
        """The account for these credentials, or `LoginFailed` / `AccountLocked`."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(sa.select(staff).where(staff.c.username == username.strip().lower()))
            ).first()
        now = self.clock()
        if row is None or not row.active:
            await self._verify(await self._dummy(), password)  # same cost as for a real account
            raise LoginFailed("Benutzername oder Passwort ist falsch.")
        locked_until = _aware(row.locked_until)
        if locked_until is not None and locked_until > now:
            await self._verify(await self._dummy(), password)
            raise AccountLocked("Zu viele Fehlversuche. Das Konto ist vorübergehend gesperrt.", locked_until)
        if not await self._verify(row.password_hash, password):
            await self._failed(row.id, now)
            raise LoginFailed("Benutzername oder Passwort ist falsch.")
        values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
        if self.hasher.check_needs_rehash(row.password_hash):
            values["password_hash"] = await asyncio.to_thread(self.hasher.hash, password)
        async with self.engine.begin() as conn:
            await conn.execute(sa.update(staff).where(staff.c.id == row.id).values(**values))
        return _staff(row)

    async def _failed(self, staff_id: int, now: dt.datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(staff).where(staff.c.id == staff_id).values(failed_logins=staff.c.failed_logins + 1)
            )
            count = (
                await conn.execute(sa.select(staff.c.failed_logins).where(staff.c.id == staff_id))
            ).scalar_one()
            if count >= MAX_FAILED_LOGINS:
                # the count starts again after the lock, so each quarter hour allows five guesses
                await conn.execute(
                    sa.update(staff)
                    .where(staff.c.id == staff_id)
                    .values(failed_logins=0, locked_until=now + LOCKOUT)
                )

    async def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return bool(await asyncio.to_thread(self.hasher.verify, password_hash, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(self.hasher.hash, secrets.token_urlsafe(18))
        return self._dummy_hash

    # sessions

    async def create_session(self, staff_id: int) -> tuple[str, Session]:
        """A new session; returns the cookie token (never stored) and the session."""
        async with self.engine.begin() as conn:
            return await self._insert_session(conn, staff_id)

    async def _insert_session(self, conn: AsyncConnection, staff_id: int) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self.clock()
        expires = now + self.session_lifetime
        await conn.execute(
            sa.insert(staff_sessions).values(
                id=token_digest(token),
                staff_id=staff_id,
                csrf_token=csrf,
                created_at=now,
                last_seen_at=now,
                expires_at=expires,
            )
        )
        row = (await conn.execute(sa.select(staff).where(staff.c.id == staff_id))).one()
        return token, Session(_staff(row), csrf, expires)

    async def session(self, token: str | None) -> Session | None:
        """The live session for a cookie token, or None (unknown, expired, or account disabled)."""
        if not token or len(token) > 128:
            return None
        digest = token_digest(token)
        now = self.clock()
        query = (
            sa.select(
                staff, staff_sessions.c.csrf_token, staff_sessions.c.expires_at, staff_sessions.c.last_seen_at
            )
            .select_from(staff_sessions.join(staff, staff.c.id == staff_sessions.c.staff_id))
            .where(staff_sessions.c.id == digest)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        expires = _aware(row.expires_at)
        assert expires is not None
        if expires <= now or not row.active:
            await self.end_session(token)
            return None
        seen = _aware(row.last_seen_at)
        if seen is None or now - seen >= SEEN_EVERY:
            async with self.engine.begin() as conn:
                await conn.execute(
                    sa.update(staff_sessions).where(staff_sessions.c.id == digest).values(last_seen_at=now)
                )
        return Session(_staff(row), row.csrf_token, expires)

    async def end_session(self, token: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(staff_sessions).where(staff_sessions.c.id == token_digest(token)))

    async def end_sessions(self, staff_ids: Sequence[int]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(staff_sessions).where(staff_sessions.c.staff_id.in_(staff_ids)))


async def _audit(
    conn: AsyncConnection, by: Actor | None, action: str, detail: str | None, now: dt.datetime
) -> None:
    """One audit-log row for an account change, in the caller's transaction; nothing without an actor."""
    if by is None:
        return
    await conn.execute(
        sa.insert(audit_log).values(
            staff_id=by.staff_id,
            username=by.username,
            action=action,
            handover_id=None,
            detail=detail and detail[:200],
            created_at=now,
        )
    )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidAccount(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        raise InvalidAccount("the password is too long (at most 1024 characters)")
