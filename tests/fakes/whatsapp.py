"""A fake of Meta's WhatsApp Cloud API (the Graph API messages endpoint) for tests, over real HTTP.

Why real HTTP: Lotse's WhatsApp channel is an HTTP client of graph.facebook.com and an HTTP server for
Meta's webhook. Faking at the HTTP level runs its real request code, its parsing of Graph error bodies
and its signature check, and it serves a Lotse started as a subprocess just as well as one in the test
process. Like the fake Telegram server, it runs Starlette on uvicorn in a background thread with an
event loop of its own, so it keeps answering while the test's loop is busy, and everything it records
is guarded by one lock.

The fake plays both sides of Meta:

- The Graph API: `POST /<version>/<phone_number_id>/messages` with `Authorization: Bearer <token>`.
  A bad token is answered with 401 and code 190, an unknown version or phone number id with 400 and
  code 100. Sends are validated against the documented limits (text length, reply buttons, list rows,
  header and footer lengths, known templates and languages, template parameter whitespace) and errors
  come back in the Graph shape `{"error": {"message", "type", "code", "error_data", "fbtrace_id"}}`.
  Characters are counted with `len()` (code points), which is what the limits say. The mark-as-read
  call on the same endpoint answers `{"success": true}`.
- Meta's webhook sender: after each accepted send it POSTs signed "sent" and "delivered" statuses to the
  configured webhook, after the HTTP response has gone out, as Meta does.
- The 24-hour customer service window: free-form messages to a user who has not written within 24 hours
  are accepted with 200 and a message id, exactly as Meta accepts them, and then fail asynchronously with
  a "failed" status (131047) on the webhook. This is the behaviour a client most easily gets wrong,
  because nothing in the send response tells it. The fake keeps a clock of its own (`now()`, shifted by
  `clock_offset`) so tests can let the window expire without waiting a day.

Not faked: media upload and download, message templates' content and parameter counts, the read/typing
indicators' effect, pricing, business-initiated conversation limits, and Meta's retries of a webhook that
did not answer 200 (a failed webhook POST is recorded, not repeated).
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import secrets
import ssl
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.threaded import ThreadedFake
from tests.fakes.whatsapp_payloads import (
    Built,
    JsonDict,
    Webhooks,
    inbound_messages,
    new_wamid,
    sign,
    window_closed_error,
)

DEFAULT_ACCESS_TOKEN = "test-graph-token"
DEFAULT_PHONE_NUMBER_ID = "1098765432"
DEFAULT_APP_SECRET = "test-app-secret"
DEFAULT_VERSION = "v23.0"
DEFAULT_TEMPLATES: Mapping[str, Collection[str]] = {"lotse_reply": {"de", "en", "ar", "fa", "uk", "ru", "tr"}}

WINDOW_SECONDS = 24 * 3600
STATUS_DELAY = 0.05  # seconds between the send response and the first status POST

MAX_TEXT = 4096
MAX_BUTTON_BODY = 1024
MAX_LIST_BODY = 4096
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_LIST_BUTTON = 20
MAX_SECTIONS = 10
MAX_SECTION_TITLE = 24
MAX_ROWS = 10
MAX_ROW_ID = 200
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_HEADER_TEXT = 60
MAX_FOOTER_TEXT = 60


# What Meta writes for the codes a client has to handle, and the HTTP status it comes with.
ERRORS: dict[int, tuple[int, str]] = {
    100: (400, "Invalid parameter"),
    190: (401, "Error validating access token: Session has expired on Monday, 01-Jan-24 00:00:00 PST."),
    130429: (429, "Rate limit hit"),
    131000: (500, "Something went wrong"),
    131008: (400, "Required parameter is missing"),
    131009: (400, "Parameter value is not valid"),
    131016: (503, "Service unavailable"),
    131026: (400, "Message undeliverable"),
    131030: (400, "Recipient phone number not in allowed list"),
    131047: (400, "Re-engagement message"),
    131051: (400, "Unsupported message type"),
    131056: (400, "(Business Account, Consumer Account) pair rate limit hit"),
    132001: (400, "Template name does not exist in the translation"),
    132018: (400, "There was an issue with the parameters in your template."),
}

_TEMPLATE_PARAM_WHITESPACE = re.compile(r"[\n\t]| {5,}")
_MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
_SEND_TYPES = frozenset(
    {"text", "interactive", "template", "reaction", "location", "contacts", *_MEDIA_TYPES}
)


def _fbtrace_id() -> str:
    return "A" + secrets.token_urlsafe(16).replace("-", "x").replace("_", "y")


class GraphError(Exception):
    """An error answer of the Graph API; raised by validation, produced by injected failures.

    `message` defaults to Meta's title for `code` with its "(#code)" prefix; `details` is what goes into
    `error_data.details`, the part that says which parameter was wrong.
    """

    def __init__(
        self,
        code: int,
        details: str | None = None,
        *,
        message: str | None = None,
        http_status: int | None = None,
        error_type: str = "OAuthException",
        error_subcode: int | None = None,
    ) -> None:
        default_status, title = ERRORS.get(code, (400, "Unknown error"))
        self.code = code
        self.http_status = http_status if http_status is not None else default_status
        self.message = message if message is not None else (title if code == 190 else f"(#{code}) {title}")
        self.details = details
        self.error_type = error_type
        self.error_subcode = error_subcode if error_subcode is not None else (463 if code == 190 else None)
        super().__init__(f"{self.http_status} {self.message}")

    def body(self) -> JsonDict:
        error: JsonDict = {"message": self.message, "type": self.error_type, "code": self.code}
        if self.error_subcode is not None:
            error["error_subcode"] = self.error_subcode
        if self.details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["fbtrace_id"] = _fbtrace_id()
        return {"error": error}


def invalid(details: str) -> GraphError:
    """Code 100: a parameter is missing, of the wrong type or not allowed."""
    return GraphError(100, details)


def not_valid(details: str) -> GraphError:
    """Code 131009: a parameter is there but its value breaks a limit."""
    return GraphError(131009, details)


@dataclass
class Call:
    """One request as the fake answered it; `at` is `time.monotonic()` when the answer was produced.

    `kind` is "message", "read" or "other"; `body` the decoded JSON request (or {} if unreadable).
    """

    kind: str
    path: str
    body: JsonDict
    status: int
    at: float
    response: JsonDict = field(default_factory=dict)


@dataclass
class Sent:
    """An accepted outgoing message: its wamid, the normalised recipient and the request body.

    `in_window` is False for the free-form messages Meta accepted but will fail with 131047.
    """

    id: str
    to: str
    body: JsonDict
    at: float
    in_window: bool


@dataclass
class WebhookPost:
    """A POST the fake made to the webhook (statuses or a user's message), with its outcome.

    `status` is the HTTP status the webhook answered, or None when the request failed (`error`).
    """

    payload: JsonDict
    status: int | None
    error: str | None
    at: float


@dataclass
class _Failure:
    error: GraphError
    remaining: int
    include_reads: bool


class FakeGraphApi(ThreadedFake):
    """A WhatsApp Cloud API server on 127.0.0.1 with a random port, recording every call.

    Use as `with FakeGraphApi() as fake:` or `fake = FakeGraphApi().start()` … `fake.stop()`, and point
    the client at `fake.graph_url` (e.g. "http://127.0.0.1:43123") instead of https://graph.facebook.com.

    Recorded state is handed out as copies taken under the lock. `reset()` forgets it, together with
    injected failures, the users' windows and the clock offset; the configuration (token, phone number
    id, app secret, templates, webhook, `statuses`, `latency`) stays.
    """

    def __init__(
        self,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
        app_secret: str = DEFAULT_APP_SECRET,
        version: str = DEFAULT_VERSION,
        templates: Mapping[str, Collection[str]] = DEFAULT_TEMPLATES,
        latency: float = 0.0,
    ) -> None:
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.app_secret = app_secret
        self.version = version
        self.templates: dict[str, frozenset[str]] = {
            name: frozenset(langs) for name, langs in templates.items()
        }
        self.latency = latency
        self.statuses = True  # post "sent"/"delivered"/"failed" statuses to the webhook
        self.clock_offset = 0.0  # seconds added to time.time() by now()
        self.webhooks = Webhooks(phone_number_id)
        self.webhook_url: str | None = None
        # Re-entrant, because wait_for() evaluates predicates (which call messages(), texts()...) under it.
        self._cond = threading.Condition(threading.RLock())
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending = 0  # status posts scheduled and not finished
        self._generation = 0  # bumped by reset(): older scheduled status posts are dropped
        self._poster: httpx.AsyncClient | None = None  # lives on the server's loop
        self._app = Starlette(
            routes=[
                Route("/{version}/{phone_number_id}/messages", self._endpoint, methods=["POST"]),
                Route("/{path:path}", self._unknown_path, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            ]
        )
        self._clear()

    def _clear(self) -> None:
        self._calls: list[Call] = []
        self._sent: list[Sent] = []
        self._reads: list[JsonDict] = []
        self._posts: list[WebhookPost] = []
        self._failures: list[_Failure] = []
        self._down = False
        self._last_user_message: dict[str, float] = {}
        self.clock_offset = 0.0

    # ----------------------------------------------------------------------------------- lifecycle

    _thread_name = "fake-whatsapp"

    async def _after_serve(self) -> None:
        """Cancel status posts still waiting when the server stops, and close the webhook client."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._poster is not None:
            await self._poster.aclose()
            self._poster = None

    @property
    def graph_url(self) -> str:
        """What replaces https://graph.facebook.com: the server root."""
        return self.base_url

    @property
    def messages_url(self) -> str:
        """`<base_url>/<version>/<phone_number_id>/messages`, the endpoint a client POSTs to."""
        return f"{self.base_url}/{self.version}/{self.phone_number_id}/messages"

    def auth_headers(self) -> dict[str, str]:
        """The headers a correctly configured client sends."""
        return {"Authorization": f"Bearer {self.access_token}"}

    # ----------------------------------------------------------------------------- the clock and window

    def now(self) -> float:
        """The fake's clock: `time.time() + clock_offset`. The 24-hour window is measured on it."""
        return time.time() + self.clock_offset

    def set_last_user_message(self, wa_id: str, when: float) -> None:
        """Pretend `wa_id` last wrote at `when` (seconds on the fake's clock, see `now()`)."""
        with self._cond:
            self._last_user_message[_digits(wa_id)] = when

    def last_user_message(self, wa_id: str) -> float | None:
        with self._cond:
            return self._last_user_message.get(_digits(wa_id))

    def in_window(self, wa_id: str) -> bool:
        """Whether a free-form message to `wa_id` would be delivered now."""
        last = self.last_user_message(wa_id)
        return last is not None and self.now() - last < WINDOW_SECONDS

    # ----------------------------------------------------------------------------- what was recorded

    @property
    def calls(self) -> list[Call]:
        """Every request answered so far, including errors and injected failures."""
        with self._cond:
            return copy.deepcopy(self._calls)

    def outgoing(self, to: str | None = None) -> list[Sent]:
        """Every accepted send (delivered or not), optionally to one user, in order."""
        with self._cond:
            return [copy.deepcopy(s) for s in self._sent if to is None or s.to == _digits(to)]

    def messages(self, to: str | None = None) -> list[JsonDict]:
        """Bodies of the messages that reached the user (accepted and inside the window), in order."""
        return [s.body for s in self.outgoing(to) if s.in_window]

    def outside_window(self, to: str | None = None) -> list[JsonDict]:
        """Bodies of the free-form messages Meta accepted outside the 24-hour window (and will fail)."""
        return [s.body for s in self.outgoing(to) if not s.in_window]

    def texts(self, to: str | None = None) -> list[str]:
        """What the user got to read: text bodies, interactive body texts and template parameter texts."""
        found: list[str] = []
        for body in self.messages(to):
            found.extend(_readable_texts(body))
        return found

    def last_interactive(self, to: str) -> JsonDict | None:
        """The `interactive` object of the last interactive message delivered to `to`, or None."""
        sent = self._last_interactive_sent(to)
        return None if sent is None else sent.body["interactive"]

    def _last_interactive_sent(self, to: str) -> Sent | None:
        delivered = [s for s in self.outgoing(to) if s.in_window and s.body.get("type") == "interactive"]
        return delivered[-1] if delivered else None

    @property
    def reads(self) -> list[JsonDict]:
        """Bodies of the mark-as-read calls, in order."""
        with self._cond:
            return copy.deepcopy(self._reads)

    @property
    def webhook_posts(self) -> list[WebhookPost]:
        """Every POST the fake made to the webhook: statuses and users' messages, with their outcome."""
        with self._cond:
            return copy.deepcopy(self._posts)

    def posted_statuses(self, message_id: str | None = None) -> list[JsonDict]:
        """The status entries posted to the webhook (optionally about one message), in order."""
        found: list[JsonDict] = []
        for post in self.webhook_posts:
            for entry in post.payload.get("entry", []):
                for change in entry.get("changes", []):
                    for status in change.get("value", {}).get("statuses", []):
                        if message_id is None or status.get("id") == message_id:
                            found.append(status)
        return found

    def reset(self) -> None:
        """Forget everything recorded and injected, the users' windows and the clock offset.

        Status posts not yet made are dropped, so one test's statuses do not reach the next test's
        webhook; a post already on the wire may still arrive, which `settle()` waits out.
        """
        with self._cond:
            self._clear()
            self._generation += 1
            self._cond.notify_all()

    def settle(self, timeout: float = 5.0) -> bool:
        """Block until no status post is pending (made or dropped); returns whether that happened."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    # ------------------------------------------------------------------------------ steering it

    def fail_next(
        self,
        code: int,
        http_status: int | None = None,
        count: int = 1,
        message: str | None = None,
        details: str | None = None,
        include_reads: bool = False,
    ) -> None:
        """Let the next `count` sends fail with Graph error `code`.

        `http_status` defaults to what Meta answers with for that code (429 for 130429, 401 for 190,
        500 for 131000, 503 for 131016, otherwise 400); `message` to Meta's title for it. Mark-as-read
        calls pass by untouched unless `include_reads`, so a client that marks an inbound message read
        before replying still meets the failure with its reply. Failures apply before validation, in
        the order they were added.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        error = GraphError(code, details, message=message, http_status=http_status)
        with self._cond:
            self._failures.append(_Failure(error, count, include_reads))

    def down(self) -> None:
        """An outage: every request is answered with 503 (code 131016) until `heal()`."""
        with self._cond:
            self._down = True

    def heal(self) -> None:
        """End the outage and every injected failure; recorded calls are kept."""
        with self._cond:
            self._down = False
            self._failures.clear()

    def configure_webhook(self, url: str | None, app_secret: str | None = None) -> None:
        """Set the callback URL (None: none) and, if given, the app secret the payloads are signed with."""
        with self._cond:
            self.webhook_url = url
            if app_secret is not None:
                self.app_secret = app_secret

    # ------------------------------------------------------------------- acting as the user and Meta

    def user_sends(self, built: Built, timeout: float = 10.0) -> int:
        """POST a payload to the webhook as Meta would, signed with the app secret; returns the status.

        The window of every user with a message in it opens first (on the fake's clock), so a reply
        sent while the webhook is handled is delivered. Statuses payloads may be sent this way too.
        A webhook that cannot be reached raises httpx's error.
        """
        url = self._open_windows(built.payload)
        with httpx.Client(timeout=timeout, verify=_ssl_context()) as client:
            status = client.post(url, content=built.body, headers=built.headers(self.app_secret)).status_code
        self._record_post(built.payload, status)
        return status

    async def auser_sends(self, built: Built, timeout: float = 10.0) -> int:
        """`user_sends` for async tests (needed when the webhook runs on the test's event loop)."""
        url = self._open_windows(built.payload)
        async with httpx.AsyncClient(timeout=timeout, verify=_ssl_context()) as client:
            response = await client.post(url, content=built.body, headers=built.headers(self.app_secret))
        self._record_post(built.payload, response.status_code)
        return response.status_code

    def post_raw(self, body: bytes, headers: Mapping[str, str], timeout: float = 10.0) -> int:
        """POST arbitrary bytes to the webhook (forged signatures, broken JSON); returns the status.

        Opens no window and records nothing: the fake did not send this, the test did.
        """
        with httpx.Client(timeout=timeout, verify=_ssl_context()) as client:
            return client.post(self._webhook(), content=body, headers=dict(headers)).status_code

    async def apost_raw(self, body: bytes, headers: Mapping[str, str], timeout: float = 10.0) -> int:
        """`post_raw` for async tests."""
        async with httpx.AsyncClient(timeout=timeout, verify=_ssl_context()) as client:
            return (await client.post(self._webhook(), content=body, headers=dict(headers))).status_code

    def verify(self, mode: str, token: str, challenge: str, timeout: float = 10.0) -> httpx.Response:
        """The GET Meta makes when the webhook is configured: the endpoint must echo `hub.challenge`."""
        with httpx.Client(timeout=timeout, verify=_ssl_context()) as client:
            return client.get(self._webhook(), params=_verification(mode, token, challenge))

    async def averify(self, mode: str, token: str, challenge: str, timeout: float = 10.0) -> httpx.Response:
        """`verify` for async tests."""
        async with httpx.AsyncClient(timeout=timeout, verify=_ssl_context()) as client:
            return await client.get(self._webhook(), params=_verification(mode, token, challenge))

    def reply_to_choice(self, wa_id: str, title: str) -> Built:
        """The user taps the button or list row titled `title` in the last interactive message to them.

        Matches the exact title first, then a unique title that starts with `title` (or, when Lotse
        shortened a title with "…", one whose start `title` begins with). Builds the `button_reply` or
        `list_reply` Meta would post, with the interactive message as context. Raises AssertionError
        listing the available titles when nothing (or more than one) matches.
        """
        sent = self._last_interactive_sent(wa_id)
        if sent is None:
            raise AssertionError(f"no interactive message was delivered to {wa_id}")
        interactive = sent.body["interactive"]
        kind = interactive.get("type")
        action = interactive.get("action") or {}
        if kind == "button":
            options = [button["reply"] for button in action.get("buttons", [])]
        else:
            options = [row for section in action.get("sections", []) for row in section.get("rows", [])]
        titles = [str(option.get("title", "")) for option in options]
        chosen = _match_title(titles, title)
        if chosen is None:
            raise AssertionError(f"no single option titled {title!r} for {wa_id}; available: {titles}")
        option = options[chosen]
        if kind == "button":
            return self.webhooks.button_reply(wa_id, option["id"], option["title"], context_id=sent.id)
        return self.webhooks.list_reply(
            wa_id, option["id"], option["title"], option.get("description"), context_id=sent.id
        )

    def _webhook(self) -> str:
        with self._cond:
            url = self.webhook_url
        if url is None:
            raise RuntimeError("no webhook is configured; call configure_webhook(url) first")
        return url

    def _open_windows(self, payload: JsonDict) -> str:
        url = self._webhook()
        with self._cond:
            now = self.now()
            for message in inbound_messages(payload):
                if "from" in message:
                    self._last_user_message[_digits(str(message["from"]))] = now
            self._cond.notify_all()
        return url

    def _record_post(self, payload: JsonDict, outcome: int | str) -> None:
        status, error = (outcome, None) if isinstance(outcome, int) else (None, outcome)
        with self._cond:
            self._posts.append(WebhookPost(copy.deepcopy(payload), status, error, time.monotonic()))
            self._cond.notify_all()

    # --------------------------------------------------------------------------------- HTTP layer

    async def _endpoint(self, request: Request) -> Response:
        raw = await request.body()
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        path = request.url.path
        body: JsonDict = {}
        try:
            decoded = json.loads(raw) if raw else None
            if isinstance(decoded, dict):
                body = decoded
        except ValueError:
            decoded = None
        kind = "read" if body.get("status") == "read" else "message"
        try:
            self._check_access(request)
            if not isinstance(decoded, dict):
                raise invalid("The request body must be a JSON object")
            result, sent = self._answer(kind, body)
        except GraphError as exc:
            return self._respond(kind, path, body, exc.http_status, exc.body())
        response = self._respond(kind, path, body, 200, result)
        if sent is not None:
            self._schedule_statuses(sent)
        return response

    async def _unknown_path(self, request: Request) -> Response:
        if self._is_down():
            error = GraphError(131016)
        else:
            error = GraphError(
                2500,
                message=f"Unknown path components: {request.url.path}",
                http_status=400,
            )
        return self._respond("other", request.url.path, {}, error.http_status, error.body())

    def _respond(self, kind: str, path: str, body: JsonDict, status: int, answer: JsonDict) -> Response:
        with self._cond:
            self._calls.append(
                Call(kind, path, copy.deepcopy(body), status, time.monotonic(), copy.deepcopy(answer))
            )
            self._cond.notify_all()
        return JSONResponse(answer, status_code=status)

    def _is_down(self) -> bool:
        with self._cond:
            return self._down

    def _check_access(self, request: Request) -> None:
        """Outage first, then the token, then the path, as the Graph API checks them."""
        if self._is_down():
            raise GraphError(131016)
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            token = credentials.strip()
        else:  # the Graph API also takes the token as a query parameter
            token = request.query_params.get("access_token", "")
        if token != self.access_token:
            raise GraphError(190)
        version, number = request.path_params["version"], request.path_params["phone_number_id"]
        if version != self.version:
            raise GraphError(
                100,
                f"Unknown Graph API version {version!r}; the fake serves {self.version}",
                message="(#100) Invalid parameter",
            )
        if number != self.phone_number_id:
            raise GraphError(
                100,
                message=(
                    f"Unsupported post request. Object with ID '{number}' does not exist, cannot be loaded "
                    "due to missing permissions, or does not support this operation."
                ),
                error_type="GraphMethodException",
                error_subcode=33,
            )

    def _answer(self, kind: str, body: JsonDict) -> tuple[JsonDict, Sent | None]:
        with self._cond:
            injected = self._take_failure(kind)
            if injected is not None:
                raise injected
            if body.get("messaging_product") != "whatsapp":
                raise invalid(f"messaging_product must be 'whatsapp', got {body.get('messaging_product')!r}")
            if kind == "read":
                message_id = body.get("message_id")
                if not isinstance(message_id, str) or not message_id.startswith("wamid."):
                    raise invalid("message_id must be the wamid of a message the business received")
                self._reads.append(copy.deepcopy(body))
                return {"success": True}, None
            to = body.get("to")
            if not isinstance(to, str) or not _digits(to):
                raise GraphError(100, "The parameter to is required.")
            kind_of_message = body.get("type", "text")
            _validate(body, kind_of_message, self.templates)
            wa_id = _digits(to)
            in_window = kind_of_message == "template" or self.in_window(wa_id)
            sent = Sent(new_wamid(wa_id), wa_id, copy.deepcopy(body), time.monotonic(), in_window)
            self._sent.append(sent)
            result = {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": wa_id}],
                "messages": [{"id": sent.id}],
            }
            return result, sent

    def _take_failure(self, kind: str) -> GraphError | None:
        for failure in self._failures:
            if kind == "message" or failure.include_reads:
                failure.remaining -= 1
                self._failures = [f for f in self._failures if f.remaining > 0]
                return failure.error
        return None

    # ------------------------------------------------------------------------------ status webhooks

    def _schedule_statuses(self, sent: Sent) -> None:
        """Post the statuses from the server's loop once the response is out (never block the answer)."""
        with self._cond:
            if not self.statuses or self.webhook_url is None:
                return
            self._pending += 1
            generation = self._generation
        task = asyncio.get_running_loop().create_task(self._post_statuses(sent, generation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post_statuses(self, sent: Sent, generation: int) -> None:
        if sent.in_window:
            steps: list[tuple[str, list[JsonDict] | None]] = [("sent", None), ("delivered", None)]
        else:
            steps = [("failed", [window_closed_error()])]
        try:
            await asyncio.sleep(STATUS_DELAY)
            for status, errors in steps:
                with self._cond:
                    if generation != self._generation:
                        return
                built = self.webhooks.statuses(sent.to, sent.id, status, errors, timestamp=self.now())
                await self._post_to_webhook(built)
        finally:
            with self._cond:
                self._pending -= 1
                self._cond.notify_all()

    async def _post_to_webhook(self, built: Built) -> None:
        url = self.webhook_url
        if url is None:
            return
        if self._poster is None:
            self._poster = httpx.AsyncClient(timeout=10.0, verify=_ssl_context())
        body = built.body
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, self.app_secret)}
        try:
            outcome: int | str = (await self._poster.post(url, content=body, headers=headers)).status_code
        except Exception as exc:  # a broken webhook must never take the fake down
            outcome = f"{type(exc).__name__}: {exc}"
        self._record_post(built.payload, outcome)


# ---------------------------------------------------------------------------------- validation


def _validate(body: JsonDict, kind: Any, templates: Mapping[str, frozenset[str]]) -> None:
    """Raise the GraphError Meta answers for this send request, if any."""
    if kind not in _SEND_TYPES:
        raise invalid(f"Param type must be one of {sorted(_SEND_TYPES)}, got {kind!r}")
    recipient_type = body.get("recipient_type", "individual")
    if recipient_type != "individual":
        raise invalid(f"recipient_type must be 'individual', got {recipient_type!r}")
    context = body.get("context")
    if context is not None and not (isinstance(context, dict) and isinstance(context.get("message_id"), str)):
        raise invalid("context must be an object with message_id")
    if kind == "contacts":
        if not (isinstance(body.get("contacts"), list) and body["contacts"]):
            raise GraphError(131008, "The parameter contacts is required.")
        return
    content = body.get(kind)
    if not isinstance(content, dict):
        raise GraphError(131008, f"The parameter {kind} is required.")
    if kind == "text":
        _check_text(content)
    elif kind == "interactive":
        _check_interactive(content)
    elif kind == "template":
        _check_template(content, templates)
    elif kind in _MEDIA_TYPES:
        if not (content.get("id") or content.get("link")):
            raise GraphError(131008, f"{kind} requires either id or link")
    elif kind == "reaction":
        if not isinstance(content.get("message_id"), str):
            raise GraphError(131008, "reaction requires message_id")
    elif kind == "location" and not all(
        isinstance(content.get(key), int | float) for key in ("latitude", "longitude")
    ):
        raise GraphError(131008, "location requires latitude and longitude")


def _check_text(text: JsonDict) -> None:
    value = text.get("body")
    if not isinstance(value, str) or not value.strip():
        raise GraphError(100, "The parameter text['body'] is required.")
    if len(value) > MAX_TEXT:
        raise invalid(f"Param text['body'] must be at most {MAX_TEXT} characters long.")


def _length(value: Any, what: str, low: int, high: int) -> str:
    """`value` as a string of `low` to `high` characters, or the error Meta answers, naming `what`."""
    if value is None:
        raise GraphError(131008, f"{what} is required")
    if not isinstance(value, str):
        raise invalid(f"{what} must be a string")
    if not low <= len(value) <= high:
        raise not_valid(f"{what} length invalid. Min length: {low}, Max length: {high}, got {len(value)}")
    return value


def _check_interactive(interactive: JsonDict) -> None:
    kind = interactive.get("type")
    if kind not in ("button", "list", "cta_url", "location_request_message"):
        raise invalid(f"interactive type {kind!r} is not supported")
    body = interactive.get("body")
    if not isinstance(body, dict) or "text" not in body:
        raise GraphError(131008, "The parameter interactive['body']['text'] is required.")
    _length(body["text"], "Body text", 1, MAX_LIST_BODY if kind == "list" else MAX_BUTTON_BODY)
    header = interactive.get("header")
    if header is not None:
        if not isinstance(header, dict) or header.get("type") not in ("text", "image", "video", "document"):
            raise invalid("header type must be one of text, image, video, document")
        if kind == "list" and header["type"] != "text":
            raise invalid("A list message supports only a text header")
        if header["type"] == "text":
            _length(header.get("text"), "Header text", 1, MAX_HEADER_TEXT)
    footer = interactive.get("footer")
    if footer is not None:
        if not isinstance(footer, dict):
            raise invalid("footer must be an object")
        _length(footer.get("text"), "Footer text", 1, MAX_FOOTER_TEXT)
    action = interactive.get("action")
    if not isinstance(action, dict):
        raise GraphError(131008, "The parameter interactive['action'] is required.")
    if kind == "button":
        _check_buttons(action)
    elif kind == "list":
        _check_list(action)


def _check_buttons(action: JsonDict) -> None:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
        count = len(buttons) if isinstance(buttons, list) else 0
        raise not_valid(f"Buttons count invalid. Min count: 1, Max count: {MAX_BUTTONS}, got {count}")
    titles: set[str] = set()
    ids: set[str] = set()
    for button in buttons:
        reply = button.get("reply") if isinstance(button, dict) else None
        if not isinstance(button, dict) or button.get("type") != "reply" or not isinstance(reply, dict):
            raise invalid("Each button must be {'type': 'reply', 'reply': {'id': ..., 'title': ...}}")
        title = _length(reply.get("title"), "Button title", 1, MAX_BUTTON_TITLE)
        button_id = _length(reply.get("id"), "Button id", 1, MAX_BUTTON_ID)
        if title in titles:
            raise not_valid(f"Button title must be unique; {title!r} is repeated")
        if button_id in ids:
            raise not_valid(f"Button id must be unique; {button_id!r} is repeated")
        titles.add(title)
        ids.add(button_id)


def _check_list(action: JsonDict) -> None:
    _length(action.get("button"), "Button text", 1, MAX_LIST_BUTTON)
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= MAX_SECTIONS:
        count = len(sections) if isinstance(sections, list) else 0
        raise not_valid(f"Sections count invalid. Min count: 1, Max count: {MAX_SECTIONS}, got {count}")
    ids: set[str] = set()
    total = 0
    for section in sections:
        if not isinstance(section, dict):
            raise invalid("Each section must be an object")
        if len(sections) > 1 or "title" in section:
            _length(section.get("title"), "Section title", 1, MAX_SECTION_TITLE)
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            raise not_valid("Each section must have at least one row")
        total += len(rows)
        for row in rows:
            if not isinstance(row, dict):
                raise invalid("Each row must be an object")
            row_id = _length(row.get("id"), "Row id", 1, MAX_ROW_ID)
            _length(row.get("title"), "Row title", 1, MAX_ROW_TITLE)
            if "description" in row:
                _length(row["description"], "Row description", 0, MAX_ROW_DESCRIPTION)
            if row_id in ids:
                raise not_valid(f"Row id must be unique; {row_id!r} is repeated")
            ids.add(row_id)
    if total > MAX_ROWS:
        raise not_valid(f"Total row count exceed max allowed count: {MAX_ROWS}, got {total}")


def _check_template(template: JsonDict, templates: Mapping[str, frozenset[str]]) -> None:
    name = template.get("name")
    language = template.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(name, str) or not isinstance(code, str):
        raise GraphError(131008, "template requires name and language.code")
    if name not in templates or code not in templates[name]:
        raise GraphError(132001, f"template name ({name}) does not exist in {code}")
    components = template.get("components", [])
    if not isinstance(components, list):
        raise invalid("template components must be a list")
    for component in components:
        if not isinstance(component, dict):
            raise invalid("Each template component must be an object")
        for parameter in component.get("parameters", []) or []:
            if not isinstance(parameter, dict) or parameter.get("type") != "text":
                continue
            text = parameter.get("text")
            if not isinstance(text, str) or not text.strip():
                raise GraphError(131008, "Parameter text is required")
            if str(component.get("type", "")).lower() == "body" and _TEMPLATE_PARAM_WHITESPACE.search(text):
                raise GraphError(
                    132018,
                    "Param text cannot have new-line/tab characters or more than 4 consecutive spaces",
                )


# ---------------------------------------------------------------------------------- helpers


def _digits(number: str) -> str:
    """A wa_id: the phone number with "+", spaces and dashes dropped, as Meta normalises `to`."""
    return "".join(ch for ch in number if ch.isdigit())


def _readable_texts(body: JsonDict) -> list[str]:
    kind = body.get("type", "text")
    if kind == "text":
        return [str(body.get("text", {}).get("body", ""))]
    if kind == "interactive":
        return [str(body.get("interactive", {}).get("body", {}).get("text", ""))]
    if kind == "template":
        return [
            str(parameter["text"])
            for component in body.get("template", {}).get("components", []) or []
            for parameter in component.get("parameters", []) or []
            if isinstance(parameter, dict) and parameter.get("type") == "text"
        ]
    return []


def _match_title(titles: list[str], wanted: str) -> int | None:
    if wanted in titles:
        return titles.index(wanted)
    candidates = [
        index
        for index, title in enumerate(titles)
        if title.startswith(wanted) or (title.endswith("…") and wanted.startswith(title[:-1]))
    ]
    return candidates[0] if len(candidates) == 1 else None


def _verification(mode: str, token: str, challenge: str) -> dict[str, str]:
    return {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge}


@cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying context for every client the fake makes: building one per request costs ~20 ms."""
    return ssl.create_default_context()
