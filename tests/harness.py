"""Running the real ASGI service on a real port inside a test, against fake platform servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn

from bot.app import build
from bot.config import Settings
from bot.engine.understanding import Understanding
from bot.web.server import Service, build_service, create_app

WEBHOOK_SECRET = "test-webhook-secret_0123456789"


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
