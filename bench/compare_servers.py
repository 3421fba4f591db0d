"""The two servers of `bench/compare.py` as child processes: start, first answer, memory, stop.

Both are started the way their operators would start them: `lotse serve` on a fresh SQLite demo
district, and `rasa run --enable-api` with the REST channel on the generated peer project. Cold
start is measured from the spawn to the first answered message, through the same HTTP client the
load uses; memory is the RSS of the process and its children, sampled in a thread while it runs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import psutil

from bench.chat_load import ChatClient, Conversation
from bot.config import PROJECT_ROOT
from tests.harness import free_port

VENV_BIN = Path(sys.executable).parent
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false", "PYTHONWARNINGS": "ignore"}
_PLATFORM_VARIABLES = ("TELEGRAM_", "WHATSAPP_", "DATABASE_URL", "LOTSE_")


class ServerError(RuntimeError):
    pass


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any platform tokens or Lotse settings of the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_PLATFORM_VARIABLES)}
    return {**env, **QUIET, **extra}


class Server:
    def __init__(
        self, name: str, command: Sequence[str], env: dict[str, str], cwd: Path, log: Path, client: ChatClient
    ) -> None:
        self.name, self.command, self.env, self.cwd, self.log, self.client = name, command, env, cwd, log, client
        self.process: subprocess.Popen[bytes] | None = None
        self.peak_rss_mb = 0.0
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        return int(self.command[self.command.index("--port") + 1])

    async def start(self, timeout: float = 180.0) -> float:
        """Spawn, wait for the first answered message; returns seconds from spawn to that answer."""
        with self.log.open("ab") as log:
            started = time.perf_counter()
            self.process = subprocess.Popen(
                list(self.command), cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self._sampling.clear()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        probe = Conversation("probe", ("hallo",))
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as http:
            while True:
                if self.process.poll() is not None:
                    raise ServerError(f"{self.name} exited with {self.process.returncode}; see {self.log}")
                try:
                    chat = await self.client.open(http, probe)
                    if await self.client.say(http, chat, probe.texts[0]) > 0:
                        return time.perf_counter() - started
                except httpx.HTTPError:
                    pass
                if time.perf_counter() - started > timeout:
                    raise ServerError(f"{self.name} did not answer within {timeout:.0f} s; see {self.log}")
                await asyncio.sleep(0.05)

    def rss_mb(self) -> float:
        """RSS of the server and its children now, in MB."""
        if self.process is None:
            return 0.0
        total = 0
        try:
            root = psutil.Process(self.process.pid)
            for proc in [root, *root.children(recursive=True)]:
                total += proc.memory_info().rss
        except psutil.Error:
            pass
        return total / 2**20

    def _sample(self) -> None:
        while not self._sampling.wait(0.2):
            self.peak_rss_mb = max(self.peak_rss_mb, self.rss_mb())

    def stop(self) -> None:
        self._sampling.set()
        if self._sampler is not None:
            self._sampler.join()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def lotse_server(var_dir: Path, model: Path, client: ChatClient, port: int | None = None) -> Server:
    """`lotse serve` on the demo district, a fresh SQLite database in `var_dir`, no platforms."""
    var_dir.mkdir(parents=True, exist_ok=True)
    env = clean_env(LOTSE_VAR_DIR=str(var_dir), LOTSE_MODEL=str(model), LOTSE_RETRAIN="false")
    command = [str(VENV_BIN / "lotse"), "serve", "--host", "127.0.0.1", "--port", str(port or free_port())]
    return Server("Lotse", command, env, PROJECT_ROOT, var_dir / "serve.log", client)


def peer_server(project: Path, model: Path, client: ChatClient, log: Path, port: int | None = None) -> Server:
    """`rasa run --enable-api` with the REST channel, as Rasa's documentation starts a server."""
    command = [
        str(VENV_BIN / "rasa"),
        "run",
        "--enable-api",
        "--model",
        str(model),
        "--credentials",
        str(project / "credentials.yml"),
        "--port",
        str(port or free_port()),
    ]
    return Server("Rasa", command, clean_env(), project, log, client)
