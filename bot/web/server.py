"""Assembling the ASGI application and its background work.

One process runs the web chat, the Telegram webhook or long polling, the inbox worker and the
outbox senders. The pipeline starts with the application and stops with it; with SQLite, leases
left by a previous run end at once, so a restart finishes the work of a crash immediately. With
`lotse serve --workers N` (PostgreSQL) N such processes share one address and one database; their
bells are bridged by LISTEN/NOTIFY (`bot.pipeline.notify`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.app import Lotse, load_understanding
from bot.channels.received import Received
from bot.channels.telegram.client import TelegramChannel, webhook_secret
from bot.channels.telegram.polling import TelegramPoller
from bot.channels.telegram.webhook import webhook_route
from bot.channels.webchat.channel import WebChatChannel
from bot.channels.webchat.routes import webchat_routes
from bot.channels.whatsapp.channel import WhatsAppChannel
from bot.channels.whatsapp.setup import whatsapp_from_settings
from bot.channels.whatsapp.webhook import webhook_routes as whatsapp_routes
from bot.console.accounts import Accounts
from bot.console.routes import STATIC as CONSOLE_STATIC
from bot.console.routes import console_routes
from bot.handover.desk import Desk
from bot.keys import derive, installation_key
from bot.live.reloader import ContentReloader
from bot.live.retrainer import ModelRetrainer
from bot.pipeline.channel import Channel, Limits
from bot.pipeline.notify import NotifyBridge
from bot.pipeline.service import Pipeline
from bot.storage.deliveries import Deliveries
from bot.storage.handovers import Handovers
from bot.storage.retention import Retention, RetentionPolicy
from bot.translation.service import MachineTranslation

log = logging.getLogger(__name__)
SECRET_KEY_FILE = "secret.key"  # in var/, when LOTSE_SECRET_KEY is not set


@dataclass
class Service:
    """What `lotse serve` runs, kept together so that tests and benchmarks can look inside."""

    lotse: Lotse
    pipeline: Pipeline
    telegram: TelegramChannel | None = None
    telegram_mode: str = "off"  # off | polling | webhook
    telegram_secret: str = ""  # the webhook's secret token, when Telegram uses the webhook
    whatsapp: WhatsAppChannel | None = None
    routes: list[BaseRoute] = field(default_factory=list)
    accounts: Accounts | None = None
    desk: Desk | None = None
    translation: MachineTranslation | None = None
    reloader: ContentReloader | None = None
    retrainer: ModelRetrainer | None = None
    # `lotse serve --workers N`: this process's index and N. Worker 0 alone does what must happen
    # once per installation (Telegram's webhook, commands and long polling); with N > 1 on
    # PostgreSQL the bell reaches the other workers through `bridge`.
    worker: int = 0
    workers: int = 1
    bell_key: bytes = b""
    bridge: NotifyBridge | None = None


def build_service(lotse: Lotse, worker: int = 0, workers: int = 1) -> Service:
    settings = lotse.settings
    channels: list[Channel] = [WebChatChannel()]
    telegram: TelegramChannel | None = None
    if settings.telegram_token:
        telegram = TelegramChannel(
            settings.telegram_token,
            settings.telegram_api_base_url,
            Limits(settings.telegram_rate, settings.telegram_chat_interval, 4096),
        )
        channels.append(telegram)
    whatsapp = whatsapp_from_settings(settings, lotse.editions)
    if whatsapp is not None:
        channels.append(whatsapp)
    deliveries = Deliveries(lotse.database, lease=settings.lease_seconds)
    pipeline = Pipeline(
        deliveries,
        lotse.engine,
        channels,
        concurrency=settings.worker_concurrency,
        typing_after=settings.typing_after,
        retention=Retention(lotse.database, RetentionPolicy.from_settings(settings)),
        retention_interval=settings.retention_interval,
    )
    service = Service(lotse, pipeline, telegram, whatsapp=whatsapp, worker=worker, workers=workers)
    if settings.reload_interval > 0:
        service.reloader = ContentReloader(settings, lotse.editions, settings.reload_interval)
        if settings.retrain:
            service.retrainer = ModelRetrainer(settings, lotse.engine, load_understanding, trains=worker == 0)
    service.routes = webchat_routes(pipeline, lotse.editions)
    service.routes.append(Route("/healthz", _health(service)))
    service.accounts = Accounts(lotse.database)
    service.translation = MachineTranslation.from_settings(settings)
    lotse.engine.on_erase(service.translation.forget)  # /delete empties this process's cache too
    service.desk = Desk(
        Handovers(lotse.database), lotse.editions, service.translation, notify=pipeline.notify
    )
    # one key for the whole installation, so that every worker accepts a login form another handed out
    secret = installation_key(settings.secret_key, settings.var_dir, SECRET_KEY_FILE, "LOTSE_SECRET_KEY")
    service.bell_key = derive(secret, "bell labels")
    service.routes.extend(
        console_routes(
            service.accounts,
            service.desk,
            secret=derive(secret, "console login form"),
            locales_dir=settings.locales_dir,
        )
    )
    service.routes.append(
        Mount("/static/console", StaticFiles(directory=str(CONSOLE_STATIC)), name="console-static")
    )
    if whatsapp is not None:
        service.routes.extend(
            whatsapp_routes(
                pipeline,
                settings.whatsapp_phone_number_id,
                settings.whatsapp_app_secret,
                settings.whatsapp_verify_token,
            )
        )
    if telegram is not None:
        service.telegram_mode = "webhook" if settings.telegram_webhook_url else "polling"
        if service.telegram_mode == "webhook":
            service.telegram_secret = webhook_secret(
                settings.telegram_token, settings.telegram_webhook_secret
            )
            service.routes.append(webhook_route(pipeline, telegram, service.telegram_secret))
    return service


def create_app(service: Service, on_ready: Callable[[], None] | None = None) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await start(service)
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            await stop(service)

    return Starlette(routes=service.routes, lifespan=lifespan)


async def start(service: Service) -> None:
    settings = service.lotse.settings
    pipeline = service.pipeline
    database = service.lotse.database
    if database.dialect.name == "sqlite":
        await pipeline.deliveries.release_leases()
    elif service.workers > 1:
        service.bridge = NotifyBridge(
            pipeline.bell, database.url.render_as_string(hide_password=False), service.bell_key
        )
        service.bridge.start()
    extra: list[Coroutine[Any, Any, None]] = []
    if service.reloader is not None:
        extra.append(service.reloader.run())
    if service.retrainer is not None:
        extra.append(service.retrainer.run())
    telegram = service.telegram
    if telegram is not None:
        await telegram.start()
    # Telegram allows one long poller per token (a second gets 409 Conflict) and one webhook
    if telegram is not None and service.worker == 0:
        try:
            await telegram.register_commands(service.lotse.editions.catalogs)
            if service.telegram_mode == "webhook":
                await telegram.use_webhook(settings.telegram_webhook_url, service.telegram_secret)
            else:
                await telegram.use_polling()
        except Exception as exc:  # Telegram unreachable: serve the rest, polling retries by itself
            log.error("setting up Telegram failed: %s", exc)
        if service.telegram_mode == "polling":

            async def accept(received: Received) -> object:
                return await pipeline.accept(received.inbound, received.external_id, received.meta)

            extra.append(TelegramPoller(telegram, accept).run())
    pipeline.start(*extra)


async def stop(service: Service) -> None:
    await service.pipeline.stop()
    if service.bridge is not None:
        await service.bridge.stop()
    if service.translation is not None:
        service.translation.close()
    if service.telegram is not None:
        with contextlib.suppress(Exception):
            await service.telegram.stop()
    if service.whatsapp is not None:
        await service.whatsapp.close()
    await service.lotse.close()


def _content_health(service: Service) -> dict[str, object]:
    """Which edition answers, and whether a newer edit on disk was refused (and why)."""
    return {
        "edition": service.lotse.editions.current.number,
        "refused": service.reloader.refused if service.reloader is not None else [],
        "models_swapped": service.retrainer.swaps if service.retrainer is not None else 0,
    }


def _bell_health(service: Service) -> dict[str, object]:
    """Whether the wake-ups reach the other workers (`--workers N` on PostgreSQL), and how many."""
    bridge = service.bridge
    if bridge is None:
        return {"bridge": "off"}
    state = "listening" if bridge.connected.is_set() else "reconnecting"
    return {"bridge": state, "sent": bridge.sent, "heard": bridge.heard}


def _health(service: Service) -> Any:
    async def health(_request: Request) -> Response:
        try:
            counts = await service.pipeline.deliveries.pending_counts()
        except Exception as exc:
            return JSONResponse({"status": "error", "database": False, "error": type(exc).__name__}, 503)
        return JSONResponse(
            {
                "status": "ok",
                "worker": service.worker,  # which of the `--workers N` processes answered
                "database": True,
                "model": True,
                "telegram": service.telegram_mode,
                "whatsapp": "webhook" if service.whatsapp is not None else "off",
                "content": _content_health(service),
                "pending": counts,
                "bell": _bell_health(service),
            }
        )

    return health
