"""The WhatsApp webhook: Meta's verification handshake and the signed notifications.

`GET` answers Meta's subscription check: the configured verify token must match, and the
challenge is echoed. `POST` bodies are signed by Meta with the app secret (`X-Hub-Signature-256`,
HMAC-SHA256 of the raw body); anything unsigned or wrongly signed gets 403 before it is parsed,
and nothing is stored. A notification is acknowledged with 200 once its messages are in the inbox
and its receipts recorded; if storing fails, a 503 makes Meta deliver it again, and the inbox drops
what it already has.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.channels.whatsapp.convert import CHANNEL, read_notification
from bot.channels.whatsapp.graph import describe
from bot.pipeline.service import Pipeline
from bot.web.bodies import read_body

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/whatsapp/webhook"
MAX_BODY_BYTES = 1024 * 1024  # Meta's notifications are a few kilobytes


def signature_valid(body: bytes, header: str, app_secret: str) -> bool:
    """Constant-time check of Meta's `sha256=<hex>` signature of the raw body."""
    expected = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.strip().encode(), expected.encode())


def webhook_routes(
    pipeline: Pipeline, phone_number_id: str, app_secret: str, verify_token: str
) -> list[Route]:
    async def verify(request: Request) -> Response:
        params = request.query_params
        given = params.get("hub.verify_token", "").encode()
        if params.get("hub.mode") != "subscribe" or not hmac.compare_digest(given, verify_token.encode()):
            return PlainTextResponse("forbidden", status_code=403)
        return PlainTextResponse(params.get("hub.challenge", ""))

    async def receive(request: Request) -> Response:
        body = await read_body(request, MAX_BODY_BYTES)
        if body is None:
            return JSONResponse({"error": "too large"}, status_code=413)
        if not signature_valid(body, request.headers.get("x-hub-signature-256", ""), app_secret):
            log.warning("WhatsApp webhook call without a valid signature refused")
            return JSONResponse({"error": "forbidden"}, status_code=403)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
            return JSONResponse({"error": "unreadable notification"}, status_code=400)
        notification = read_notification(data, phone_number_id)
        try:
            for received in notification.received:
                await pipeline.accept(received.inbound, received.external_id, received.meta)
            for receipt in notification.receipts:
                error = (
                    describe(receipt.error_code, receipt.error_title) if receipt.status == "failed" else None
                )
                if error is not None:
                    log.warning("WhatsApp reports a message as not delivered: %s", error)
                await pipeline.deliveries.record_receipt(
                    CHANNEL, receipt.message_id, receipt.status, error, pipeline.clock()
                )
        except Exception:
            log.exception("storing a WhatsApp notification failed; Meta will deliver it again")
            return JSONResponse({"error": "try again"}, status_code=503)
        return Response(status_code=200)

    return [
        Route(WEBHOOK_PATH, verify, methods=["GET"]),
        Route(WEBHOOK_PATH, receive, methods=["POST"]),
    ]
