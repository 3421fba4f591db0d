"""A private PostgreSQL server that a test owns, so that it may stop and start it at will.

The machine's shared server (127.0.0.1:5432) serves other tests at the same time and must never be
restarted by one of them. A private cluster lives in a temporary directory, listens on a free port
of 127.0.0.1 only, trusts local connections, and is removed afterwards.

PostgreSQL refuses to run as root; when the tests run as root (containers, CI), the server's
programs run as the `postgres` user and the directory is handed to it. Where the programs or that
user are missing, `unavailable()` says why, so that a test can skip with a reason instead of failing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.harness import free_port

SEARCHED = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # newest version first
SERVER_USER = "postgres"


class ClusterError(RuntimeError):
    """The private server could not be created, started or stopped."""


def find_binaries() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres: the newest Debian install, else PATH."""
    for directory in SEARCHED:
        if all((directory / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return directory
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    return None


def _as_server_user() -> list[str]:
    """The command prefix that runs the server's programs as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", SERVER_USER, "--"]


def unavailable() -> str | None:
    """Why no private cluster can run here (for `pytest.skip`), or None when one can."""
    if find_binaries() is None:
        return "PostgreSQL server programs (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root and `runuser` is missing to run PostgreSQL unprivileged"
    return None


class PgCluster:
    """One initialised data directory and the server running on it; see `private_cluster()`."""

    def __init__(self, root: Path, binaries: Path, port: int) -> None:
        self.root, self.binaries, self.port = root, binaries, port
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.log_path = root / "server.log"

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self.sockets.mkdir()
        if os.geteuid() == 0:
            owner = pwd.getpwnam(SERVER_USER)
            for path in (self.root, self.sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "-U", SERVER_USER, "--auth=trust", "--encoding=UTF8", "--no-sync"
        )

    def start(self) -> None:
        """Start and wait until connections are accepted."""
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-o", options, "-w", "-t", "60", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast` disconnects clients and shuts down cleanly; `immediate` is a crash, recovered at start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        status = subprocess.run(
            [*_as_server_user(), str(self.binaries / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
        )
        return status.returncode == 0

    def create_database(self, name: str) -> str:
        """A new database (its name must be a plain identifier); returns its asyncpg URL."""
        address = ("-h", "127.0.0.1", "-p", str(self.port), "-U", SERVER_USER, "-d", "postgres")
        self._run("psql", *address, "-v", "ON_ERROR_STOP=1", "-c", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def _run(self, program: str, *args: str) -> None:
        command = [*_as_server_user(), str(self.binaries / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        if done.returncode != 0:
            raise ClusterError(
                f"{program} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}\n"
                f"{self.log_tail()}"
            )


@contextmanager
def private_cluster() -> Iterator[PgCluster]:
    """A running private server on a free port; stopped and deleted afterwards.

    The directory is made with `tempfile` directly under the system's temporary directory, not
    under pytest's (that one is private to the user running the tests, so `postgres` could not
    enter it).
    """
    binaries = find_binaries()
    reason = unavailable()
    if binaries is None or reason is not None:
        raise ClusterError(reason or "no PostgreSQL binaries")
    root = Path(tempfile.mkdtemp(prefix="lotse-pg-"))
    cluster = PgCluster(root, binaries, free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.data.exists() and cluster.running():
            try:
                cluster.stop("immediate")
            except ClusterError:
                time.sleep(1)
        shutil.rmtree(root, ignore_errors=True)
