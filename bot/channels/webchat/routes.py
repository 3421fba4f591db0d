"""The web chat page and its JSON API (Starlette).

The API is the same durable path as Telegram: a message is stored in the inbox before the request
is answered, deduplicated on the browser's own message id (so a retry after a lost response does
not ask twice), and answers are fetched from the outbox with a long poll.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bot.channels.webchat.channel import CHANNEL, chat_id_for
from bot.engine.messages import Inbound
from bot.engine.normalise import MAX_MESSAGE_CHARS
from bot.i18n.catalogs import N_, Translator
from bot.i18n.languages import LANGUAGES, SOURCE_LANGUAGE, supported
from bot.live.editions import Editions
from bot.pipeline.service import Pipeline
from bot.storage.deliveries import OutboxItem
from bot.web.bodies import read_body

HERE = Path(__file__).resolve().parent
MAX_BODY = 64 * 1024
# The page lets nobody type more than the engine keeps (MAX_MESSAGE_CHARS, its note "too long"
# says so before anything is sent). Other clients may post up to MAX_TEXT: the engine keeps the
# beginning and tells the user it read only that. Beyond it the request is refused with 413, which
# the page shows as the same note, never as a bare error.
MAX_TEXT = 10_000
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors *"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
UI_STRINGS = {
    "title": N_("Lotse"),
    "subtitle": N_("Antworten des Landkreises zu Asyl, Kita, Sport, Beratung und Deutschkursen"),
    "placeholder": N_("Ihre Frage …"),
    "send": N_("Senden"),
    "language": N_("Sprache"),
    "typing": N_("Lotse schreibt …"),
    "offline": N_("Keine Verbindung. Ihre Nachricht wird gesendet, sobald die Verbindung wieder da ist."),
    "retry": N_("Erneut versuchen"),
    "too_long": N_("Die Nachricht ist zu lang. Bitte fassen Sie sich kürzer."),
}


def webchat_routes(pipeline: Pipeline, editions: Editions) -> list[BaseRoute]:
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    async def page(request: Request) -> Response:
        explicit = supported(request.query_params.get("lang"))
        lang = explicit or _accepted_language(request.headers.get("accept-language", "")) or SOURCE_LANGUAGE
        town = (
            editions.content.find_town(request.query_params.get("town", ""))
            if request.query_params.get("town")
            else None
        )
        start = "_".join(part for part in (explicit, town.id if town else None) if part)
        _ = Translator(editions.catalogs, lang)._
        context = {
            "request": request,
            "lang": lang,
            "dir": LANGUAGES[lang].dir,
            "start": start,
            "static": "/static/webchat",
            "api": "/webchat/api",
            "languages": [
                {"code": code, "name": language.native_name, "dir": language.dir}
                for code, language in LANGUAGES.items()
            ],
            "strings": {key: _(text) for key, text in UI_STRINGS.items()},
            "max_chars": MAX_MESSAGE_CHARS,
        }
        return templates.TemplateResponse(request, "webchat.html", context, headers=PAGE_HEADERS)

    async def session(request: Request) -> Response:
        return JSONResponse({"session": secrets.token_urlsafe(24)}, headers={"Cache-Control": "no-store"})

    async def post_message(request: Request) -> Response:
        chat_id = chat_id_for(request.headers.get("x-lotse-session"))
        if chat_id is None:
            return _error("no valid session", 401)
        body = await read_body(request, MAX_BODY)
        if body is None:
            return _error("message too large", 413)
        try:
            data = json.loads(body)
        except ValueError:
            return _error("invalid JSON", 400)
        if not isinstance(data, dict):
            return _error("expected a JSON object", 400)
        message_id, text, payload = data.get("id"), data.get("text") or "", data.get("payload")
        if not isinstance(message_id, str) or not _MESSAGE_ID.match(message_id):
            return _error("'id' must be 8-64 letters, digits or dashes", 400)
        if not isinstance(text, str) or (payload is not None and not isinstance(payload, str)):
            return _error("'text' and 'payload' must be strings", 400)
        if len(text) > MAX_TEXT:
            return _error("message too long", 413)
        if payload is not None and len(payload) > 128:
            return _error("unknown button", 400)
        if not text.strip() and not payload:
            return _error("empty message", 400)
        language = data.get("language") if isinstance(data.get("language"), str) else None
        inbound = Inbound(
            channel=CHANNEL,
            user_id=chat_id,
            text=text,
            payload=payload or None,
            message_id=message_id,
            language_hint=supported(language),
        )
        wait = _seconds(request.query_params.get("wait"))
        accepted = await pipeline.accept(inbound, f"{chat_id}:{message_id}", answer_now=bool(wait))
        result: dict[str, Any] = {"accepted": True, "duplicate": accepted.duplicate}
        if wait:
            if not accepted.answered:  # a duplicate, or a chat whose earlier message is still open
                await pipeline.wait_processed(CHANNEL, chat_id, accepted.inbox_id, wait)
            after = data["after"] if isinstance(data.get("after"), int) else 0
            items = await pipeline.messages_for(CHANNEL, chat_id, after, 0)
            result["messages"] = [_message_json(item) for item in items]
            return JSONResponse(result, status_code=200)
        return JSONResponse(result, status_code=202)

    async def get_messages(request: Request) -> Response:
        chat_id = chat_id_for(request.headers.get("x-lotse-session"))
        if chat_id is None:
            return _error("no valid session", 401)
        try:
            after = max(0, int(request.query_params.get("after", "0")))
        except ValueError:
            return _error("'after' must be a number", 400)
        items = await pipeline.messages_for(
            CHANNEL, chat_id, after, _seconds(request.query_params.get("wait"))
        )
        return JSONResponse(
            {"messages": [_message_json(item) for item in items]}, headers={"Cache-Control": "no-store"}
        )

    return [
        Route("/", page),
        Route("/webchat/api/session", session, methods=["POST"]),
        Route("/webchat/api/messages", post_message, methods=["POST"]),
        Route("/webchat/api/messages", get_messages, methods=["GET"]),
        Mount("/static/webchat", StaticFiles(directory=str(HERE / "static")), name="webchat-static"),
    ]


def _message_json(item: OutboxItem) -> dict[str, Any]:
    language = item.language if item.language in LANGUAGES else SOURCE_LANGUAGE
    return {
        "id": item.id,
        "text": item.message.text,
        "buttons": [{"title": b.title, "payload": b.payload} for b in item.message.buttons],
        "language": language,
        "dir": LANGUAGES[language].dir,
    }


def _seconds(value: str | None, limit: float = 30.0) -> float:
    try:
        return max(0.0, min(float(value or 0), limit))
    except ValueError:
        return 0.0


def _accepted_language(header: str) -> str | None:
    """The first language of the browser's Accept-Language that Lotse speaks."""
    weighted = []
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((quality, tag))
    for _quality, tag in sorted(weighted, key=lambda item: -item[0]):
        code = supported(tag)
        if code:
            return code
    return None


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
