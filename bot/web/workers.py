"""`lotse serve --workers N`: N serving processes behind one address, on one PostgreSQL database.

The parent binds the listening socket once, migrates the database once and starts N workers
(`python -m bot.cli serve --socket-fd FD --worker-index I`) that inherit the socket; the kernel hands
each new connection to one of them. Every worker runs the whole pipeline; inbox and outbox rows are
claimed with leases, so any worker may answer any message, and none answers one twice.

The parent only watches. SIGTERM or SIGINT is passed on to the workers, which finish their requests
and turns and stop. A worker that stops on its own is a fault the parent does not paper over: it
stops the others and exits with status 1, so that the service manager (systemd's
`Restart=on-failure`, a container runtime) restarts the whole installation and the fault shows in
its log. Workers run in a session of their own (a Ctrl+C in the terminal reaches the parent alone,
which passes it on once) and end with the parent if it is killed (Linux: PR_SET_PDEATHSIG).

SQLite is refused: it has one writer at a time, so more processes would only queue for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

from bot.config import Settings
from bot.errors import LotseError

log = logging.getLogger(__name__)

STOP_PATIENCE = 60.0  # a worker waits for its open requests (web chat long polls: up to 30 s)
POLL = 0.2
SQLITE_REFUSED = (
    "--workers {n} needs PostgreSQL: SQLite has one writer at a time, so several processes would only "
    "wait for each other. Set DATABASE_URL=postgresql://user@host/db, or serve with --workers 1."
)
_PR_SET_PDEATHSIG = 1


def listen(host: str, port: int) -> socket.socket:
    """The listening socket all workers share, inheritable by child processes."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise LotseError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def supervise(settings: Settings, host: str, port: int, workers: int) -> int:
    """Run `workers` serving processes on one socket until a signal; 1 if one of them failed."""
    url = settings.resolved_database_url()
    if not url.startswith("postgresql"):
        raise LotseError(SQLITE_REFUSED.format(n=workers))
    asyncio.run(_migrate(url))  # once, before the workers, which then find the schema at head
    sock = listen(host, port)
    signals: list[int] = []

    def remember(signum: int, _frame: FrameType | None) -> None:
        signals.append(signum)

    previous = {s: signal.signal(s, remember) for s in (signal.SIGTERM, signal.SIGINT)}
    children: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(workers):
            if signals:
                break
            children.append(_spawn(sock, host, port, workers, index))
        sock.close()  # the workers hold it now
        return _watch(children, signals)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sock.close()
        _stop(children)


def _spawn(sock: socket.socket, host: str, port: int, workers: int, index: int) -> subprocess.Popen[bytes]:
    fd = sock.fileno()
    command = [
        sys.executable,
        "-m",
        "bot.cli",
        "serve",
        f"--host={host}",
        f"--port={port}",
        f"--workers={workers}",
        f"--socket-fd={fd}",
        f"--worker-index={index}",
        f"--parent-pid={os.getpid()}",
    ]
    return subprocess.Popen(command, pass_fds=(fd,), start_new_session=True)


def _watch(children: list[subprocess.Popen[bytes]], signals: list[int]) -> int:
    """Wait for a signal (then stop all, 0) or a worker's own end (then stop the others, 1)."""
    while True:
        if signals:
            _stop(children)
            return 0
        for index, child in enumerate(children):
            code = child.poll()
            if code is not None:
                log.error(
                    "worker %s (pid %s) stopped on its own with status %s; stopping the others",
                    index,
                    child.pid,
                    code,
                )
                _stop(children)
                return 1
        time.sleep(POLL)


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every worker still running; SIGKILL for any still there after STOP_PATIENCE."""
    for child in children:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_PATIENCE
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("worker pid %s did not stop within %.0f s; killing it", child.pid, STOP_PATIENCE)
            child.kill()
            child.wait()


def end_with_parent(parent_pid: int) -> None:
    """Let the kernel send SIGTERM to this worker when its parent dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # it died before the request above took effect
        os.kill(os.getpid(), signal.SIGTERM)


async def _migrate(url: str) -> None:
    from bot.storage.database import create_engine, upgrade

    database = create_engine(url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()
