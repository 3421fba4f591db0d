"""The Telegram webhook endpoint.

Telegram sends the secret given to `setWebhook` in `X-Telegram-Bot-Api-Secret-Token`; anything
without it is refused with 403 before the body is read, and nothing is stored. An update is
acknowledged with 200 only after it is in the inbox; if storing fails, a 503 makes Telegram
deliver it again later.
"""

from __future__ import annotations

import hmac
import json
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Update

from bot.channels.telegram.client import TelegramChannel
from bot.channels.telegram.convert import to_inbound
from bot.pipeline.service import Pipeline
from bot.web.bodies import read_body

log = logging.getLogger(__name__)

MAX_UPDATE_BYTES = 1024 * 1024
WEBHOOK_PATH = "/telegram/webhook"


def webhook_route(pipeline: Pipeline, channel: TelegramChannel, secret: str) -> Route:
    expected = secret.encode()

    async def receive(request: Request) -> Response:
        given = request.headers.get("x-telegram-bot-api-secret-token", "").encode()
        if not hmac.compare_digest(given, expected):
            return JSONResponse({"error": "forbidden"}, status_code=403)
        body = await read_body(request, MAX_UPDATE_BYTES)
        if body is None:
            return JSONResponse({"error": "too large"}, status_code=413)
        try:
            data = json.loads(body)
            update = Update.de_json(data, channel.bot) if isinstance(data, dict) else None
        except Exception as exc:
            # python-telegram-bot builds objects from whatever JSON it is given and fails in as
            # many ways as there are wrong shapes (a date out of range is an OverflowError, deep
            # nesting a RecursionError); each of them only means this body is not an update.
            log.warning("unreadable Telegram update: %s", type(exc).__name__)
            return JSONResponse({"error": "unreadable update"}, status_code=400)
        if update is None:
            return JSONResponse({"error": "unreadable update"}, status_code=400)
        received = to_inbound(update)
        if received is None:
            return Response(status_code=200)
        try:
            await pipeline.accept(received.inbound, received.external_id, received.meta)
        except Exception:
            log.exception("storing a Telegram update failed; Telegram will deliver it again")
            return JSONResponse({"error": "try again"}, status_code=503)
        return Response(status_code=200)

    return Route(WEBHOOK_PATH, receive, methods=["POST"])
