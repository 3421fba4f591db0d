"""A fake Telegram Bot API server for tests that speaks the real protocol over real HTTP.

Why real HTTP and not a mocked client: python-telegram-bot (PTB) turns HTTP status codes and error
bodies into its exception classes (`RetryAfter`, `Forbidden`, `BadRequest`, `NetworkError`, `Conflict`)
inside its own request layer, and Lotse's delivery logic depends on exactly those classes. Faking at
the HTTP level lets that real code run. It also lets a Lotse server started as a subprocess call the
fake, which no in-process mock could serve.

The server (Starlette on uvicorn) runs in a background thread with its own event loop. It therefore
keeps answering while the test's event loop is busy, and one fake serves the test, PTB and other
processes at once. Everything it records is guarded by one lock, because the server thread writes
while the test thread reads.

What is faked, and how faithfully:

- URLs are `<base_url>/bot<token>/<method>`, GET or POST. Parameters may come as a query string, as
  `application/x-www-form-urlencoded` (what PTB sends: every non-string value is a JSON string, so an
  int arrives as "42" and a keyboard as '{"inline_keyboard": ...}'), as a JSON body or as
  `multipart/form-data`. They are normalised to what Telegram understands: chat ids and other integer
  fields become ints, booleans become bools, and JSON fields (reply_markup, commands, allowed_updates…)
  become objects. Method names are case-insensitive, as in Telegram.
- Every response is Telegram's envelope: `{"ok": true, "result": ...}` or
  `{"ok": false, "error_code": N, "description": "...", "parameters": {"retry_after": N}}`.
- Validation copies the errors Lotse can actually cause (empty or too long text, callback data over
  64 bytes, broken HTML, an inline button without an action, invalid commands, a bad secret token),
  with Telegram's wording, so a test notices them before production does.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import email.parser
import email.policy
import html
import itertools
import json
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.threaded import ThreadedFake

DEFAULT_TOKEN = "123456:TEST-TOKEN"
BOT_FIRST_NAME = "Lotse"
BOT_USERNAME = "lotse_test_bot"

MAX_TEXT_UTF16 = 4096
MAX_CALLBACK_DATA_BYTES = 64
MAX_COMMANDS = 100

JsonDict = dict[str, Any]

WEBHOOK_CONFLICT = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
POLLING_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
BLOCKED = "Forbidden: bot was blocked by the user"

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: BLOCKED,
    404: "Not Found",
    409: POLLING_CONFLICT,
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

METHODS = (
    "getMe",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
    "answerCallbackQuery",
    "sendChatAction",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "getUpdates",
)
_CANONICAL = {name.lower(): name for name in METHODS}

# How Telegram types the parameters the fake understands; PTB sends all of them as strings in a form.
_JSON_FIELDS = frozenset(
    [
        "reply_markup",
        "commands",
        "allowed_updates",
        "scope",
        "entities",
        "caption_entities",
        "link_preview_options",
        "reply_parameters",
        "media",
        "results",
        "menu_button",
        "message_ids",
    ]
)
_CHAT_FIELDS = frozenset({"chat_id", "from_chat_id"})  # an int, or "@channelusername"
_INT_FIELDS = frozenset(
    [
        "message_id",
        "offset",
        "limit",
        "user_id",
        "cache_time",
        "max_connections",
        "reply_to_message_id",
        "message_thread_id",
    ]
)
_FLOAT_FIELDS = frozenset({"timeout"})
_BOOL_FIELDS = frozenset(
    [
        "disable_notification",
        "protect_content",
        "drop_pending_updates",
        "show_alert",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "allow_paid_broadcast",
        "is_personal",
    ]
)
_JSON_FIELD_NAMES = {"reply_markup": "reply keyboard markup", "commands": "BotCommand array"}

_CHAT_ACTIONS = frozenset(
    [
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    ]
)
_BUTTON_ACTIONS = frozenset(
    [
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    ]
)
_HTML_TAGS = frozenset(
    [
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
        "tg-time",
    ]
)
_TAG = re.compile(r"<(/?)([^\s<>/]*)([^<>]*)>")
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_INTEGER = re.compile(r"-?\d+")
_ARRIVED: contextvars.ContextVar[float | None] = contextvars.ContextVar("arrived", default=None)


@dataclass
class Call:
    """One API call as the fake answered it; `at` is `time.monotonic()` when the response was produced.

    `params` are the normalised parameters (ints, bools and decoded JSON), `response` the JSON body sent.
    `arrived` is `time.monotonic()` when the request reached the fake: a test that checks whether a
    client waited out a `retry_after` compares the next request's arrival, not its answer.
    """

    method: str
    params: JsonDict
    status: int
    at: float
    response: JsonDict = field(default_factory=dict)
    arrived: float | None = None

    @property
    def retry_after(self) -> int | None:
        """The `retry_after` this answer told the client, if it was a flood-control refusal."""
        value = self.response.get("parameters", {}).get("retry_after")
        return int(value) if value is not None else None


def _arrival(call: Call) -> float:
    return call.arrived if call.arrived is not None else call.at


class ApiError(Exception):
    """A Telegram error response; raised by validation, produced by injected failures."""

    def __init__(self, status: int, description: str | None = None, retry_after: int | None = None) -> None:
        self.status = status
        self.description = description or default_description(status, retry_after)
        self.retry_after = retry_after
        super().__init__(f"{status} {self.description}")

    def body(self) -> JsonDict:
        body: JsonDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


def default_description(status: int, retry_after: int | None = None) -> str:
    """The description Telegram writes for a status, so injected failures read like real ones."""
    if status == 429:
        return (
            f"Too Many Requests: retry after {retry_after}"
            if retry_after is not None
            else "Too Many Requests"
        )
    if status in _DEFAULT_DESCRIPTIONS:
        return _DEFAULT_DESCRIPTIONS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"


@dataclass
class _Failure:
    """An injected failure: for the next `remaining` calls, or until `until` (monotonic), or both."""

    method: str | None
    status: int
    retry_after: int | None
    description: str | None
    remaining: int | None = None
    until: float | None = None

    def alive(self, now: float) -> bool:
        return (self.remaining is None or self.remaining > 0) and (self.until is None or now < self.until)

    def applies_to(self, method: str, now: float) -> bool:
        return self.alive(now) and (self.method is None or self.method == method)


Outcome = int | tuple[int, int]
"""One answer of a flaky period: a status (200: the call goes through), or (429, retry_after)."""


@dataclass
class _Flaky:
    """A period in which calls get the outcomes of a repeating pattern, as an overloaded API answers."""

    methods: frozenset[str] | None
    outcomes: Iterator[Outcome]
    until: float

    def alive(self, now: float) -> bool:
        return now < self.until

    def applies_to(self, method: str, now: float) -> bool:
        return self.alive(now) and (self.methods is None or method in self.methods)


class FakeBotApi(ThreadedFake):
    """A Telegram Bot API server on 127.0.0.1 with a random port, recording every call.

    Use as `with FakeBotApi() as fake:` or `fake = FakeBotApi().start()` … `fake.stop()`; point PTB at it
    with `telegram.Bot(fake.token, base_url=f"{fake.base_url}/bot")`.

    The recorded state (`calls`, `webhook`, `commands`, `callback_answers`, `chat_actions`) is exposed as
    copies taken under the lock, so reading never races the server thread; use `reset()` to forget it.
    `latency` may be changed while the server runs.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, latency: float = 0.0) -> None:
        self.token = token
        self.latency = latency
        # Re-entrant, because wait_for() evaluates predicates (which call sent(), texts()...) while holding it.
        self._cond = threading.Condition(threading.RLock())
        self._stopping = threading.Event()
        self._poll_generation = 0  # never reset: a pending long poll compares against it
        self._handlers: dict[str, Callable[[JsonDict], Any]] = {
            "getMe": self._get_me,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
        }
        any_method = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        self._app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
                Route("/{path:path}", self._not_found, methods=any_method),
            ]
        )
        self._clear()

    def _clear(self) -> None:
        self._calls: list[Call] = []
        self._failures: list[_Failure] = []
        self._flaky: list[_Flaky] = []
        self._updates: list[JsonDict] = []
        self._last_update_id = 0
        self._webhook: JsonDict | None = None
        self._commands: dict[str, list[JsonDict]] = {}
        self._callback_answers: list[JsonDict] = []
        self._chat_actions: list[JsonDict] = []
        self._message_ids: dict[str, int] = {}
        self._messages: dict[tuple[str, int], JsonDict] = {}
        self._blocked: set[str] = set()

    # ----------------------------------------------------------------------------------- lifecycle

    _thread_name = "fake-telegram"

    def _on_start(self) -> None:
        self._stopping.clear()

    def _on_stop(self) -> None:
        self._stopping.set()  # pending long polls return at once

    @property
    def api_url(self) -> str:
        """`<base_url>/bot<token>`, to which a client appends "/<method>"."""
        return f"{self.base_url}/bot{self.token}"

    @property
    def bot_id(self) -> int:
        prefix = self.token.split(":", 1)[0]
        return int(prefix) if prefix.isdigit() else 123456

    # ----------------------------------------------------------------------------- what was recorded

    @property
    def calls(self) -> list[Call]:
        """Every call answered so far (successes, validation errors, injected failures, 401/404)."""
        with self._cond:
            return list(self._calls)

    def sent(self, method: str = "sendMessage", chat_id: int | str | None = None) -> list[JsonDict]:
        """Parameters of the successful calls of `method` (optionally to one chat), in order."""
        method = _CANONICAL.get(method.lower(), method)
        with self._cond:
            return [
                copy.deepcopy(call.params)
                for call in self._calls
                if call.method == method
                and call.status == 200
                and (chat_id is None or str(call.params.get("chat_id")) == str(chat_id))
            ]

    def texts(self, chat_id: int | str) -> list[str]:
        """Texts (as sent, markup included) of the successful sendMessage calls to one chat."""
        return [str(params.get("text", "")) for params in self.sent("sendMessage", chat_id)]

    def ignored_retry_after(self) -> list[Call]:
        """Calls that came before the `retry_after` the previous call of the same method to the same
        chat was told had run out: what a client that honours flood control never makes.

        Per method and chat, because those calls follow each other (a client waits for the answer
        before it sends the next message to a chat), and only calls that arrived after the refusal
        was answered: one in flight beside it could not have known. Calls without a chat_id
        (answerCallbackQuery, getMe...) are not judged, as they cannot be told apart.
        """
        told: dict[tuple[str, str], tuple[float, float]] = {}  # (method, chat) -> flood wait (from, to)
        early: list[Call] = []
        for call in sorted(self.calls, key=_arrival):
            chat = call.params.get("chat_id")
            if chat is None or chat == "":
                continue
            key = (call.method, str(chat))
            start, end = told.get(key, (0.0, 0.0))
            if start <= _arrival(call) < end:
                early.append(call)
            if call.retry_after is not None:
                told[key] = (call.at, max(end, call.at + call.retry_after))
        return early

    @property
    def webhook(self) -> JsonDict | None:
        """The parameters of the last setWebhook, or None when no webhook is set."""
        with self._cond:
            return copy.deepcopy(self._webhook)

    @property
    def commands(self) -> dict[str, list[JsonDict]]:
        """setMyCommands per language_code ("" is the default list); the scope is not distinguished."""
        with self._cond:
            return copy.deepcopy(self._commands)

    @property
    def callback_answers(self) -> list[JsonDict]:
        with self._cond:
            return copy.deepcopy(self._callback_answers)

    @property
    def chat_actions(self) -> list[JsonDict]:
        with self._cond:
            return copy.deepcopy(self._chat_actions)

    @property
    def pending_updates(self) -> list[JsonDict]:
        """Updates pushed but not yet confirmed by a getUpdates offset."""
        with self._cond:
            return copy.deepcopy(self._updates)

    def reset(self) -> None:
        """Forget everything recorded and injected (calls, updates, webhook, commands, failures, blocks,
        message ids); the server keeps running on the same port."""
        with self._cond:
            self._clear()
            self._cond.notify_all()

    # ------------------------------------------------------------------------------ steering it

    def fail_next(
        self,
        method: str | None,
        status: int,
        count: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Let the next `count` calls of `method` (None: any method) fail with `status`.

        The body is Telegram's: `{"ok": false, "error_code": status, "description": ...}`, plus
        `"parameters": {"retry_after": N}` when `retry_after` is given. Injected failures take effect
        before validation, and rules apply in the order they were added.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        self._add_failure(_Failure(self._method(method), status, retry_after, description, remaining=count))

    def fail_for(
        self, seconds: float, status: int, retry_after: int | None = None, method: str | None = None
    ) -> None:
        """Let every call of `method` (None: any method) fail with `status` for the next `seconds`."""
        until = time.monotonic() + seconds
        self._add_failure(_Failure(self._method(method), status, retry_after, None, until=until))

    def flaky_for(
        self, seconds: float, pattern: Sequence[Outcome], methods: Sequence[str] | None = None
    ) -> None:
        """For the next `seconds`, answer calls of `methods` (None: every method but getUpdates) with
        the outcomes of `pattern` in turn, over and over: a status (200 lets the call through to
        the normal handler), or `(429, n)` for flood control with `retry_after` n.

        Rules from `fail_next`/`fail_for` take precedence; calls they answer do not use up an outcome.
        """
        if not pattern:
            raise ValueError("the pattern needs at least one outcome")
        chosen = None if methods is None else frozenset(m for m in map(self._method, methods) if m)
        flaky = _Flaky(chosen, itertools.cycle(list(pattern)), time.monotonic() + seconds)
        with self._cond:
            self._flaky.append(flaky)

    def heal(self) -> None:
        """End every injected failure now (the outage is over); recorded calls are kept."""
        with self._cond:
            self._failures.clear()
            self._flaky.clear()

    def _add_failure(self, failure: _Failure) -> None:
        with self._cond:
            self._failures.append(failure)

    @staticmethod
    def _method(method: str | None) -> str | None:
        return None if method is None else _CANONICAL.get(method.lower(), method)

    def block(self, chat_id: int | str) -> None:
        """The user blocked the bot: every send to this chat fails with 403 until `reset()`."""
        with self._cond:
            self._blocked.add(str(chat_id))

    def push_update(self, update: JsonDict) -> None:
        """Queue an update for getUpdates; an update without `update_id` gets the next free one."""
        update = copy.deepcopy(update)
        with self._cond:
            if "update_id" not in update:
                update["update_id"] = self._last_update_id + 1
            self._last_update_id = max(self._last_update_id, int(update["update_id"]))
            self._updates.append(update)
            self._cond.notify_all()

    def deliver_to_webhook(self, update: JsonDict, timeout: float = 10.0) -> int:
        """POST an update to the webhook set with setWebhook, as Telegram does; returns the HTTP status.

        Sends the `X-Telegram-Bot-Api-Secret-Token` header when a secret_token was set.
        """
        url, headers = self._webhook_target()
        return httpx.post(url, json=update, headers=headers, timeout=timeout).status_code

    async def adeliver_to_webhook(self, update: JsonDict, timeout: float = 10.0) -> int:
        """`deliver_to_webhook` for async tests."""
        url, headers = self._webhook_target()
        async with httpx.AsyncClient(timeout=timeout) as client:
            return (await client.post(url, json=update, headers=headers)).status_code

    def _webhook_target(self) -> tuple[str, dict[str, str]]:
        hook = self.webhook
        if hook is None:
            raise RuntimeError("no webhook is set")
        headers = {}
        if hook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(hook["secret_token"])
        return str(hook["url"]), headers

    # --------------------------------------------------------------------------------- HTTP layer

    async def _endpoint(self, request: Request) -> Response:
        _ARRIVED.set(time.monotonic())
        token, name = request.path_params["token"], request.path_params["method"]
        raw: JsonDict = {}
        unreadable: ApiError | None = None
        try:
            raw = await _read_params(request)
        except ApiError as exc:
            unreadable = exc
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        status, body = await self._answer(token, name, raw, unreadable)
        return JSONResponse(body, status_code=status)

    async def _not_found(self, request: Request) -> Response:
        return JSONResponse(ApiError(404).body(), status_code=404)

    async def _answer(
        self, token: str, name: str, raw: JsonDict, unreadable: ApiError | None
    ) -> tuple[int, JsonDict]:
        if token != self.token:
            return self._fail(name, raw, ApiError(401))
        method = _CANONICAL.get(name.lower())
        if method is None:
            return self._fail(name, raw, ApiError(404))
        if unreadable is not None:
            return self._fail(method, raw, unreadable)
        try:
            params = _normalise(raw)
        except ApiError as exc:
            return self._fail(method, raw, exc)
        if method == "getUpdates":
            return await self._get_updates(params)
        with self._cond:
            injected = self._take_failure(method)
            if injected is not None:
                return self._fail(method, params, injected)
            try:
                result = self._handlers[method](params)
            except ApiError as exc:
                return self._fail(method, params, exc)
            return self._record(method, params, 200, {"ok": True, "result": result})

    def _fail(self, method: str, params: JsonDict, error: ApiError) -> tuple[int, JsonDict]:
        return self._record(method, params, error.status, error.body())

    def _record(self, method: str, params: JsonDict, status: int, body: JsonDict) -> tuple[int, JsonDict]:
        with self._cond:
            self._calls.append(
                Call(
                    method,
                    copy.deepcopy(params),
                    status,
                    time.monotonic(),
                    copy.deepcopy(body),
                    arrived=_ARRIVED.get(),
                )
            )
            self._cond.notify_all()
        return status, body

    def _take_failure(self, method: str) -> ApiError | None:
        now = time.monotonic()
        error = None
        for failure in self._failures:
            if failure.applies_to(method, now):
                if failure.remaining is not None:
                    failure.remaining -= 1
                error = ApiError(failure.status, failure.description, failure.retry_after)
                break
        self._failures = [f for f in self._failures if f.alive(now)]
        if error is None and method != "getUpdates":
            error = self._take_flaky(method, now)
        return error

    def _take_flaky(self, method: str, now: float) -> ApiError | None:
        self._flaky = [f for f in self._flaky if f.alive(now)]
        flaky = next((f for f in self._flaky if f.applies_to(method, now)), None)
        if flaky is None:
            return None
        outcome = next(flaky.outcomes)
        status, retry_after = outcome if isinstance(outcome, tuple) else (outcome, None)
        return None if status == 200 else ApiError(status, retry_after=retry_after)

    # ------------------------------------------------------------------------------------ methods
    # All handlers below run with the lock held and raise ApiError for Telegram's error responses.

    def _bot_user(self) -> JsonDict:
        return {"id": self.bot_id, "is_bot": True, "first_name": BOT_FIRST_NAME, "username": BOT_USERNAME}

    def _get_me(self, params: JsonDict) -> JsonDict:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _chat_id(self, params: JsonDict, *, sending: bool = True) -> int | str:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int | str):
            raise bad_request("chat not found")
        if isinstance(chat_id, str) and not chat_id.startswith("@"):
            raise bad_request("chat not found")
        if sending and str(chat_id) in self._blocked:
            raise ApiError(403, BLOCKED)
        return chat_id

    def _send_message(self, params: JsonDict) -> JsonDict:
        chat_id = self._chat_id(params)
        text = _message_text(params)
        markup = _check_reply_markup(params.get("reply_markup"))
        key = str(chat_id)
        message_id = self._message_ids.get(key, 0) + 1
        self._message_ids[key] = message_id
        message: JsonDict = {
            "message_id": message_id,
            "from": self._bot_user(),
            "chat": _chat(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if markup is not None and "inline_keyboard" in markup:  # only inline keyboards come back
            message["reply_markup"] = markup
        self._messages[(key, message_id)] = message
        return copy.deepcopy(message)

    def _stored_message(self, params: JsonDict, missing: str) -> JsonDict:
        if "inline_message_id" in params:
            raise bad_request("inline messages are not supported by the fake")
        chat_id = self._chat_id(params, sending=False)
        message = self._messages.get((str(chat_id), _int(params, "message_id", 0)))
        if message is None:
            raise bad_request(missing)
        return message

    def _edit(self, message: JsonDict, text: str, markup: JsonDict | None) -> JsonDict:
        inline = markup if markup is not None and "inline_keyboard" in markup else None
        if message["text"] == text and message.get("reply_markup") == inline:
            raise bad_request(
                "message is not modified: specified new message content and reply markup are exactly "
                "the same as a current content and reply markup of the message"
            )
        message["text"] = text
        message["edit_date"] = int(time.time())
        if inline is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = inline
        return copy.deepcopy(message)

    def _edit_message_text(self, params: JsonDict) -> JsonDict:
        message = self._stored_message(params, "message to edit not found")
        text = _message_text(params)
        return self._edit(message, text, _check_reply_markup(params.get("reply_markup")))

    def _edit_message_reply_markup(self, params: JsonDict) -> JsonDict:
        message = self._stored_message(params, "message to edit not found")
        return self._edit(message, message["text"], _check_reply_markup(params.get("reply_markup")))

    def _delete_message(self, params: JsonDict) -> bool:
        message = self._stored_message(params, "message to delete not found")
        del self._messages[(str(self._chat_id(params, sending=False)), message["message_id"])]
        return True

    def _answer_callback_query(self, params: JsonDict) -> bool:
        if not params.get("callback_query_id"):
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        self._callback_answers.append(copy.deepcopy(params))
        return True

    def _send_chat_action(self, params: JsonDict) -> bool:
        self._chat_id(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self._chat_actions.append(copy.deepcopy(params))
        return True

    def _set_my_commands(self, params: JsonDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse BotCommand array JSON object")
        if len(commands) > MAX_COMMANDS:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        cleaned: list[JsonDict] = []
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND.fullmatch(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": command["command"], "description": description})
        self._commands[str(params.get("language_code") or "")] = cleaned
        return True

    def _get_my_commands(self, params: JsonDict) -> list[JsonDict]:
        return copy.deepcopy(self._commands.get(str(params.get("language_code") or ""), []))

    def _delete_my_commands(self, params: JsonDict) -> bool:
        self._commands.pop(str(params.get("language_code") or ""), None)
        return True

    def _set_webhook(self, params: JsonDict) -> bool:
        # Plain http:// URLs are accepted (Telegram insists on https), so a local Lotse can be the target.
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(str(secret)):
            raise bad_request("bad webhook: Secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook = copy.deepcopy(params) if params.get("url") else None  # an empty url removes it
        return True

    def _delete_webhook(self, params: JsonDict) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook = None
        return True

    def _get_webhook_info(self, params: JsonDict) -> JsonDict:
        hook = self._webhook or {}
        info: JsonDict = {
            "url": str(hook.get("url", "")),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        for key in ("max_connections", "allowed_updates", "ip_address"):
            if key in hook:
                info[key] = copy.deepcopy(hook[key])
        return info

    async def _get_updates(self, params: JsonDict) -> tuple[int, JsonDict]:
        """Long polling: answers as soon as an update is there, or with [] after `timeout` seconds.

        Updates below `offset` are confirmed and forgotten; a newer getUpdates ends an older one with
        409, and an active webhook makes getUpdates fail with 409, as in Telegram.
        """
        method = "getUpdates"
        with self._cond:
            injected = self._take_failure(method)
            if injected is not None:
                return self._fail(method, params, injected)
            if self._webhook is not None:
                return self._fail(method, params, ApiError(409, WEBHOOK_CONFLICT))
            try:
                offset = _int(params, "offset", 0)
                limit = min(max(_int(params, "limit", 100), 1), 100)
                timeout = max(float(params.get("timeout") or 0), 0.0)
            except ApiError as exc:
                return self._fail(method, params, exc)
            except (TypeError, ValueError):
                return self._fail(method, params, bad_request("invalid timeout specified"))
            allowed = params.get("allowed_updates") or None
            self._confirm(offset)
            self._poll_generation += 1
            generation = self._poll_generation
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                if generation != self._poll_generation:
                    return self._fail(method, params, ApiError(409, POLLING_CONFLICT))
                if self._webhook is not None:
                    return self._fail(method, params, ApiError(409, WEBHOOK_CONFLICT))
                batch = [
                    copy.deepcopy(update)
                    for update in self._updates
                    if not isinstance(allowed, list) or _update_type(update) in allowed
                ][:limit]
                remaining = deadline - time.monotonic()
                if batch or remaining <= 0 or self._stopping.is_set():
                    return self._record(method, params, 200, {"ok": True, "result": batch})
            await asyncio.sleep(min(0.01, remaining))

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if int(u["update_id"]) >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]


# ---------------------------------------------------------------------------------- parameters


async def _read_params(request: Request) -> JsonDict:
    """Query string, then the body (JSON, urlencoded form or multipart form) on top of it."""
    params: JsonDict = dict(request.query_params)
    if request.method != "POST":
        return params
    body = await request.body()
    if not body:
        return params
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json":
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        if not isinstance(decoded, dict):
            raise bad_request("can't parse JSON object")
        params.update(decoded)
    elif kind == "multipart/form-data":
        params.update(_parse_multipart(content_type, body))
    else:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _parse_multipart(content_type: str, body: bytes) -> JsonDict:
    """Form fields as strings; uploaded files as {"filename", "content_type", "size"} (content dropped)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: JsonDict = {}
    for part in message.walk():
        if part.is_multipart():
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            fields[name] = {"filename": filename, "content_type": part.get_content_type(), "size": len(data)}
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields


def _normalise(raw: Mapping[str, Any]) -> JsonDict:
    """Give string values the type Telegram reads them as (only for fields whose type is known)."""
    params: JsonDict = {}
    for key, value in raw.items():
        if isinstance(value, str):
            stripped = value.strip()
            if key in _JSON_FIELDS and stripped[:1] in ("{", "["):
                try:
                    value = json.loads(stripped)
                except ValueError:
                    raise bad_request(f"can't parse {_JSON_FIELD_NAMES.get(key, key)} JSON object") from None
            elif (key in _CHAT_FIELDS or key in _INT_FIELDS) and _INTEGER.fullmatch(stripped):
                value = int(stripped)
            elif key in _FLOAT_FIELDS:
                with contextlib.suppress(ValueError):  # left as a string; getUpdates rejects it
                    value = float(stripped)
            elif key in _BOOL_FIELDS and stripped.lower() in ("true", "false", "1", "0"):
                value = stripped.lower() in ("true", "1")
        params[key] = value
    return params


def _int(params: JsonDict, key: str, default: int) -> int:
    value = params.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {key} specified") from None


def _update_type(update: JsonDict) -> str:
    return next((key for key in update if key != "update_id"), "")


def _chat(chat_id: int | str) -> JsonDict:
    """The Chat object for a chat id: positive ids are private chats, as with real users."""
    if isinstance(chat_id, int):
        if chat_id > 0:
            return {"id": chat_id, "type": "private"}
        if str(chat_id).startswith("-100"):
            return {"id": chat_id, "type": "supergroup", "title": "Test supergroup"}
        return {"id": chat_id, "type": "group", "title": "Test group"}
    username = chat_id.lstrip("@")
    pseudo_id = -1_000_000_000_000 - zlib.crc32(username.encode()) % 1_000_000_000
    return {"id": pseudo_id, "type": "channel", "title": username, "username": username}


def utf16_len(text: str) -> int:
    """Telegram measures text in UTF-16 code units: an emoji outside the BMP counts twice."""
    return len(text.encode("utf-16-le")) // 2


def _message_text(params: JsonDict) -> str:
    """The text as Telegram stores it (markup parsed away), validated as Telegram does."""
    raw = params.get("text")
    text = "" if raw is None else str(raw)
    parse_mode = str(params.get("parse_mode") or "").lower()
    visible = html_visible_text(text) if parse_mode == "html" else text
    if not visible.strip():
        raise bad_request("message text is empty")
    if utf16_len(visible) > MAX_TEXT_UTF16:
        raise bad_request("message is too long")
    return visible


def html_visible_text(text: str) -> str:
    """Check `parse_mode=HTML` text like Telegram (supported tags, nesting) and return the plain text.

    Deliberately simple: tags are matched by name only, and attributes are not checked except the class
    a <span> needs.
    """
    stack: list[str] = []
    pieces: list[str] = []
    position = 0
    while (start := text.find("<", position)) != -1:
        pieces.append(text[position:start])
        offset = len(text[:start].encode("utf-8"))
        tag = _TAG.match(text, start)
        if tag is None:
            raise _entities_error(f"Unclosed start tag at byte offset {offset}")
        closing, name, attributes = tag.group(1) == "/", tag.group(2).lower(), tag.group(3)
        if closing:
            if not stack:
                raise _entities_error(f"Unexpected end tag at byte offset {offset}")
            expected = stack.pop()
            if expected != name:
                raise _entities_error(
                    f'Unmatched end tag at byte offset {offset}, expected "</{expected}>", found "</{name}>"'
                )
        else:
            if name not in _HTML_TAGS:
                raise _entities_error(f'Unsupported start tag "{name}" at byte offset {offset}')
            if name == "span" and "tg-spoiler" not in attributes:
                raise _entities_error(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
            stack.append(name)
        position = tag.end()
    pieces.append(text[position:])
    if stack:
        raise _entities_error(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return html.unescape("".join(pieces))


def _entities_error(detail: str) -> ApiError:
    return bad_request(f"can't parse entities: {detail}")


def _check_reply_markup(markup: Any) -> JsonDict | None:
    """Reject what Telegram rejects in a keyboard; callback_data must be 1 to 64 bytes of UTF-8."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays')
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request('can\'t parse inline keyboard button: Field "text" must be of type String')
            if not _BUTTON_ACTIONS.intersection(button):
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
                raise bad_request("BUTTON_DATA_INVALID")
    return markup
