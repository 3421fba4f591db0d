"""Running the real ASGI service on a real port inside a test, against fake platform servers."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from bot.app import build
from bot.config import Settings
from bot.engine.engine import Engine
from bot.engine.understanding import Understanding
from bot.errors import LotseError
from bot.handover.desk import Desk
from bot.storage.handovers import Handovers
from bot.translation.service import MachineTranslation
from bot.web.server import Service, build_service, create_app
from tests.fakes.whatsapp import FakeGraphApi

WEBHOOK_SECRET = "test-webhook-secret_0123456789"
WHATSAPP_VERIFY_TOKEN = "verify-token-of-the-district"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Running:
    service: Service
    base_url: str


@asynccontextmanager
async def running_service(settings: Settings, understanding: Understanding) -> AsyncIterator[Running]:
    """`lotse serve` in-process: same app, pipeline and channels, on a free port of 127.0.0.1."""
    lotse = await build(settings, understanding)
    service = build_service(lotse)
    config = uvicorn.Config(create_app(service), host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises the start-up error
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Running(service, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await task


def telegram_settings(
    database_url: str,
    api_base_url: str,
    token: str,
    webhook: bool = False,
    chat_interval: float = 0.0,
    typing_after: float = 0.0,
) -> Settings:
    return Settings(
        database_url=database_url,
        telegram_token=token,
        telegram_api_base_url=api_base_url,
        telegram_webhook_url="https://lotse.example.org/telegram/webhook" if webhook else "",
        telegram_webhook_secret=WEBHOOK_SECRET if webhook else "",
        telegram_chat_interval=chat_interval,
        typing_after=typing_after,  # always, so that tests see the indicator
    )


def whatsapp_settings(database_url: str, graph: FakeGraphApi, **more: Any) -> Settings:
    """WhatsApp alone (whatever the environment says about Telegram), sending to the fake Graph API."""
    return Settings(
        database_url=database_url,
        telegram_token="",
        whatsapp_token=graph.access_token,
        whatsapp_phone_number_id=graph.phone_number_id,
        whatsapp_app_secret=graph.app_secret,
        whatsapp_verify_token=WHATSAPP_VERIFY_TOKEN,
        whatsapp_api_base_url=graph.base_url,
        whatsapp_api_version=graph.version,
        **more,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """`lotse serve` as a child process, which a test may kill and start again."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path, startup: float = 120.0) -> None:
        self.env, self.port, self.log_path, self.startup = env, port, log_path, startup
        self.base_url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start and wait for /healthz (loading the NLU model takes a while)."""
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start without waiting, so that several servers can load their models at the same time."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self) -> None:
        """Wait for /healthz to answer 200; fail with the log's tail if the process died or took too long."""
        assert self.process is not None
        deadline = time.monotonic() + self.startup
        while True:
            if self.process.poll() is not None:
                raise LotseError(f"lotse serve exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:  # URLError is one
                pass
            if time.monotonic() > deadline:
                raise LotseError(f"/healthz did not answer 200 within {self.startup} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def desk_for_tests(engine: Engine, settings: Settings, libre_url: str, now: dt.datetime) -> Desk:
    """The caseworkers' desk on the engine's database, translating through a (fake) LibreTranslate.

    No cool-down after a failure, so that a test can take the service down and up again at once.
    """
    translation = MachineTranslation.from_settings(
        dataclasses.replace(
            settings, translation_provider="libre", libretranslate_url=libre_url, translation_timeout=2.0
        ),
        cooldown=0.0,
    )
    database = engine.store.engine  # type: ignore[attr-defined]
    return Desk(Handovers(database), engine.editions, translation, clock=lambda: now)
