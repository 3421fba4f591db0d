"""Fuzzing the Telegram and WhatsApp webhooks of a running `lotse serve` with hostile bodies.

The bodies carry the right secret (Telegram) or a valid signature (WhatsApp), so that they get past
authentication to the parsers: malformed JSON, invalid UTF-8, bodies over the size limit, deep
nesting, unknown update kinds, and real updates with one field replaced by a value of the wrong
type (numbers for strings, nulls, lists, nested garbage) or removed. hypothesis generates most of
them (derandomised, so CI posts the same ones every time); a hand-written list adds the classics.

Whatever arrives, the server must answer 2xx or 4xx, never 5xx (a 5xx makes the platform deliver
the same broken body again for days); nothing may end in a traceback in the server's log; what it
stores must be a well-formed message the worker can process; and a real message afterwards must
still be answered, so that a server broken by the garbage fails the test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.storage.database import create_engine
from bot.storage.tables import inbox
from tests.fakes.telegram import FakeBotApi
from tests.fakes.telegram_updates import Updates
from tests.fakes.whatsapp import FakeGraphApi
from tests.fakes.whatsapp_payloads import Webhooks, encode, sign
from tests.harness import WEBHOOK_SECRET, WHATSAPP_VERIFY_TOKEN, ServeProcess, free_port

pytestmark = pytest.mark.model  # `lotse serve` loads the trained NLU model

TELEGRAM = "/telegram/webhook"
WHATSAPP = "/whatsapp/webhook"
SECRET_HEADER = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "Content-Type": "application/json"}
FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TOO_LARGE = 1024 * 1024 + 1  # one byte over both webhooks' limit

JsonValue = Any
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["", "\x00", "\ud800", "\u202e", "private", "group", "text", "interactive", "😀"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)


def _deep(depth: int, leaf: JsonValue = 1) -> JsonValue:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


@pytest.fixture(scope="module")
def telegram_api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as api:
        yield api


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraphApi]:
    with FakeGraphApi() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(
    database_url: str, telegram_api: FakeBotApi, graph: FakeGraphApi, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeProcess]:
    """One `lotse serve` with both webhooks, as a district runs it."""
    tmp = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOTSE_VAR_DIR": str(tmp),
        "LOTSE_TRANSLATION": "none",
        "TELEGRAM_TOKEN": telegram_api.token,
        "TELEGRAM_API_BASE_URL": telegram_api.base_url,
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}{TELEGRAM}",
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TELEGRAM_CHAT_INTERVAL": "0",
        "WHATSAPP_TOKEN": graph.access_token,
        "WHATSAPP_PHONE_NUMBER_ID": graph.phone_number_id,
        "WHATSAPP_APP_SECRET": graph.app_secret,
        "WHATSAPP_VERIFY_TOKEN": WHATSAPP_VERIFY_TOKEN,
        "WHATSAPP_API_BASE_URL": graph.base_url,
        "WHATSAPP_API_VERSION": graph.version,
    }
    process = ServeProcess(env, port, tmp / "server.log", startup=300)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def client(server: ServeProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        yield http


# Unique per test run, so that a redelivery check never mistakes an earlier run's update for ours.
_RUN = random.Random().randrange(10**6)
_serial = itertools.count(1)


def _fresh_number() -> int:
    return 9 * 10**11 + _RUN * 10**5 + next(_serial)


# ------------------------------------------------------------------------------- Telegram bodies


def _telegram_examples() -> list[dict[str, Any]]:
    """One real update of each kind Lotse reads, with fresh ids (a mutation keeps them unique)."""
    updates = Updates(start_update_id=_fresh_number())
    user = _fresh_number()
    text = updates.text(user, "Wie finde ich einen Kita-Platz?", "de")
    edited = updates.text(user, "Hallo", "de")
    edited["edited_message"] = edited.pop("message")
    group = updates.text(user, "/start", "de")
    group["message"]["chat"] = {"id": -user, "type": "group", "title": "Helferkreis"}
    press = {
        "update_id": _fresh_number(),
        "callback_query": {
            "id": "4382bfdwdsb323b2d9",
            "from": Updates.user(user, "ar"),
            "chat_instance": "-81726354",
            "data": "topic:kita.place",
            "message": {
                "message_id": 7,
                "date": 1_760_000_000,
                "chat": Updates.private_chat(user),
                "text": "Wählen Sie ein Thema:",
                "reply_markup": {
                    "inline_keyboard": [[{"text": "Kita", "callback_data": "topic:kita.place"}]]
                },
            },
        },
    }
    photo = updates.text(user, "x", "de")
    del photo["message"]["text"]
    photo["message"]["photo"] = [{"file_id": "AgAD", "file_unique_id": "AQAD", "width": 90, "height": 90}]
    photo["message"]["caption"] = "Was steht in diesem Brief?"
    return [text, edited, group, press, photo]


def _places(data: JsonValue, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _places(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _places(value, (*prefix, index))


def _with_fresh_ids(data: JsonValue) -> JsonValue:
    """New update and message ids, so that a mutated copy is processed and not dropped as a redelivery."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "update_id" or (key == "id" and isinstance(value, str) and value.startswith("wamid.")):
                data[key] = _fresh_number() if key == "update_id" else f"wamid.f{_fresh_number()}"
            else:
                _with_fresh_ids(value)
    elif isinstance(data, list):
        for value in data:
            _with_fresh_ids(value)
    return data


@st.composite
def _mutated(draw: st.DrawFn, examples: list[dict[str, Any]]) -> JsonValue:
    """A real body with one value replaced by garbage, or removed."""
    document = _with_fresh_ids(json.loads(json.dumps(draw(st.sampled_from(examples)))))
    where = draw(st.sampled_from(list(_places(document))))
    if not where:
        return draw(JSON)
    parent = document
    for part in where[:-1]:
        parent = parent[part]
    if draw(st.booleans()):
        del parent[where[-1]]
    else:
        parent[where[-1]] = draw(JSON | st.builds(_deep, st.integers(50, 400)))
    return document


def _json_bytes(value: JsonValue) -> bytes:
    """The body as sent; bytes stand for themselves (nesting too deep for json.dumps, broken JSON)."""
    if isinstance(value, bytes):
        return value
    # Lone surrogates are written as JSON escapes, as a hostile client would send them.
    return json.dumps(value, ensure_ascii=True).encode()


def _nested_in(prefix: bytes, depth: int) -> bytes:
    """A JSON object whose last field is nested `depth` levels deep (Python's limit is 1000)."""
    return prefix + b'{"a":[' * depth + b"1" + b"]}" * depth + b"}"


RAW = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"",
            b"null",
            b"[]",
            b'"update"',
            b"{not json",
            b'{"update_id": 1,',
            b"\xff\xfe{}",
            b'{"update_id": 1e999}',
            b'{"update_id": ' + b"9" * 5000 + b"}",
            b"[" * 100_000 + b"]" * 100_000,
            b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
            b'{"update_id": 5, "message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}, '
            b'"text": "\\ud800\\u0000"}}',
        ]
    ),
)


def telegram_bodies() -> st.SearchStrategy[bytes]:
    examples = _telegram_examples()
    return st.one_of(_mutated(examples).map(_json_bytes), JSON.map(_json_bytes), RAW)


NASTY_TELEGRAM: list[JsonValue] = [
    {"update_id": 1},
    {"update_id": None, "message": None},
    {"update_id": "1", "message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}, "text": 1}},
    {"update_id": 2, "message": {"message_id": 1, "date": 1}},  # no chat
    {"update_id": 3, "message": {"message_id": 1, "date": 10**20, "chat": {"id": 1, "type": "private"}}},
    {"update_id": 4, "message": "Hallo"},
    {"update_id": 5, "message": [], "callback_query": 7},
    {"update_id": 6, "callback_query": {"id": "1", "chat_instance": "x", "data": "topic:x"}},  # no from
    {"update_id": 7, "message": {"message_id": 1, "date": 1, "chat": {"id": 10**40, "type": "private"}, "text": "x"}},
    {"update_id": 10**40, "message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}, "text": "x"}},
    {"update_id": 8, "message": {"message_id": 1, "date": 1, "chat": {"id": [1], "type": "private"}, "text": "x"}},
    {"update_id": 9, "message": {"message_id": 1, "date": 1, "chat": {"id": True, "type": "private"}, "text": "x"}},
    {"update_id": 10, "poll": {"id": "1"}, "unknown_kind": {"x": 1}},
    {"update_id": 11, "business_message": {"message_id": 1}},
    {"update_id": 12, "message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"},
                                  "from": {"id": 1, "is_bot": False, "first_name": "a", "language_code": 5},
                                  "new_chat_members": "alle", "reply_markup": [[[]]]}},
    _nested_in(b'{"update_id": 13, "message": {"message_id": 1, "date": 1, "chat": {"id": 1, '
               b'"type": "private"}, "reply_to_message": ', 5000) + b"}",
    _nested_in(b'{"update_id": 14, "message": ', 800),
]  # fmt: skip


# ------------------------------------------------------------------------------- WhatsApp bodies


def _whatsapp_examples(graph: FakeGraphApi) -> list[dict[str, Any]]:
    hooks = Webhooks(graph.phone_number_id)
    wa_id = str(_fresh_number())
    text = hooks.text(wa_id, "Wann hat die Beratung offen?").payload
    press = hooks.button_reply(wa_id, "topic:kita.place", "Kita").payload
    status = hooks.envelope(
        {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550009999", "phone_number_id": graph.phone_number_id},
            "statuses": [
                {
                    "id": "wamid.HBgLNDk=",
                    "status": "failed",
                    "timestamp": "1760000000",
                    "recipient_id": wa_id,
                    "errors": [{"code": 131047, "title": "Re-engagement message"}],
                }
            ],
        }
    )
    return [text, press, status]


def whatsapp_bodies(graph: FakeGraphApi) -> st.SearchStrategy[bytes]:
    examples = _whatsapp_examples(graph)
    return st.one_of(_mutated(examples).map(_json_bytes), JSON.map(_json_bytes), RAW)


def _nasty_whatsapp(graph: FakeGraphApi) -> list[JsonValue]:
    hooks = Webhooks(graph.phone_number_id)

    def message(**fields: JsonValue) -> JsonValue:
        base = {"from": "4915100000001", "id": f"wamid.n{_fresh_number()}", "timestamp": "1", "type": "text"}
        base.update(fields)
        return hooks.envelope(
            {
                "messaging_product": "whatsapp",
                "metadata": {"phone_number_id": graph.phone_number_id},
                "messages": [base],
            }
        )

    return [
        {"object": "whatsapp_business_account"},
        {"entry": "alles"},
        {"entry": [{"changes": [{"field": "messages", "value": []}]}]},
        {"entry": [{"changes": [{"field": ["messages"], "value": {"messages": {"0": 1}}}]}]},
        message(type=["text"], text={"body": "x"}),
        message(type={"x": 1}),
        message(text={"body": 5}),
        message(text="Hallo"),
        message(**{"from": 4915100000001}),
        message(**{"from": "1" * 300}),
        message(**{"from": "49151\x000001"}),
        message(id="w" * 129),
        message(id=None),
        message(timestamp=1e308),
        message(timestamp="9" * 5000),
        message(type="interactive", interactive={"button_reply": {"id": "topic:" + "x" * 5000, "title": 5}}),
        message(type="interactive", interactive={"list_reply": ["x"]}),
        message(type="reaction", reaction={"emoji": None}),
        message(type="audio", audio="voice"),
        message(type="unknown_future_kind", unknown_future_kind={"a": _deep(40)}),
        message(text={"body": "\ud800 kaputt \x00 Null"}),
        message(text={"body": _deep(300)}),
        _nested_in(b'{"entry": [{"changes": [{"field": "messages", "value": ', 5000) + b"]}]}",
        hooks.envelope({"statuses": [{"id": "w", "status": "failed", "errors": [{"code": 10**300}]}]}),
        hooks.envelope({"statuses": [{"id": ["w"], "status": {"x": 1}}]}),
        hooks.envelope({"metadata": {"phone_number_id": ["x"]}, "messages": "x"}),
    ]


# ------------------------------------------------------------------------------- checks


def _post_telegram(client: httpx.Client, body: bytes) -> int:
    return client.post(TELEGRAM, content=body, headers=SECRET_HEADER).status_code


def _post_whatsapp(client: httpx.Client, graph: FakeGraphApi, body: bytes) -> int:
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, graph.app_secret)}
    return client.post(WHATSAPP, content=body, headers=headers).status_code


def _refused_or_acknowledged(status: int, body: bytes) -> None:
    assert status in {200, 400, 413}, f"{status} for {body[:300]!r}"


def _log_is_clean(server: ServeProcess) -> None:
    log = server.log_path.read_text(errors="replace")
    for sign_of_a_bug in ("Traceback", "Exception in ASGI application", "Unhandled", " ERROR "):
        assert sign_of_a_bug not in log, server.log_tail(60)


def _stored_rows(database_url: str, since: dt.datetime) -> list[Any]:
    """The inbox rows of the webhooks stored since `since` (other tests share the database)."""

    async def read() -> list[Any]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                query = sa.select(inbox).where(
                    inbox.c.channel.in_(("telegram", "whatsapp")), inbox.c.created_at >= since
                )
                return list((await conn.execute(query)).all())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _well_formed(row: Any) -> None:
    """What reached the inbox is a message the worker can handle: ids of the right shape, a text."""
    if row.channel == "telegram":
        assert re.fullmatch(r"-?\d{1,19}", row.chat_id), row.chat_id
    else:
        assert re.fullmatch(r"[\x21-\x7e]{1,128}", row.chat_id), row.chat_id
    body = row.body
    assert isinstance(body.get("text", ""), str) and "\x00" not in body.get("text", "")
    assert body.get("payload") is None or isinstance(body["payload"], str)


# ------------------------------------------------------------------------------- tests


def test_hostile_telegram_updates_are_refused_or_ignored_and_lotse_still_answers(
    server: ServeProcess, client: httpx.Client, telegram_api: FakeBotApi, database_url: str
) -> None:
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    for update in NASTY_TELEGRAM:
        body = _json_bytes(update)
        _refused_or_acknowledged(_post_telegram(client, body), body)
    assert _post_telegram(client, b"{" + b" " * TOO_LARGE + b"}") == 413

    statuses: Counter[int] = Counter()

    @FUZZ
    @given(body=telegram_bodies())
    def fuzz(body: bytes) -> None:
        status = _post_telegram(client, body)
        statuses[status] += 1
        _refused_or_acknowledged(status, body)

    fuzz()
    # the fuzzing reached the parser: both refusals and accepted (or ignored) updates came back
    assert statuses[400] >= 20 and statuses[200] >= 20 and statuses.total() >= FUZZ.max_examples, statuses

    user = _fresh_number()
    valid = Updates(start_update_id=_fresh_number()).text(user, "/start de", "de")
    assert _post_telegram(client, _json_bytes(valid)) == 200
    assert telegram_api.wait_for(lambda api: len(api.sent("sendMessage", user)) >= 1, timeout=120), (
        "a valid update after the garbage was not answered:\n" + server.log_tail()
    )
    for row in _settled_rows(database_url, since):
        _well_formed(row)
        assert row.status == "done", (row.status, row.error)
    _log_is_clean(server)


def test_hostile_whatsapp_notifications_are_refused_or_ignored_and_lotse_still_answers(
    server: ServeProcess, client: httpx.Client, graph: FakeGraphApi, database_url: str
) -> None:
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    for notification in _nasty_whatsapp(graph):
        body = _json_bytes(notification)
        _refused_or_acknowledged(_post_whatsapp(client, graph, body), body)
    big = b'{"entry": "' + b"x" * TOO_LARGE + b'"}'
    assert _post_whatsapp(client, graph, big) == 413
    unsigned = client.post(WHATSAPP, content=b"{}", headers={"X-Hub-Signature-256": "sha256=00"})
    assert unsigned.status_code == 403  # the fuzzing below really got past the signature check

    statuses: Counter[int] = Counter()

    @FUZZ
    @given(body=whatsapp_bodies(graph))
    def fuzz(body: bytes) -> None:
        status = _post_whatsapp(client, graph, body)
        statuses[status] += 1
        _refused_or_acknowledged(status, body)

    fuzz()
    # the fuzzing reached the parser: both refusals and accepted (or ignored) updates came back
    assert statuses[400] >= 20 and statuses[200] >= 20 and statuses.total() >= FUZZ.max_examples, statuses

    wa_id = str(_fresh_number())
    valid = Webhooks(graph.phone_number_id).text(wa_id, "Hallo")
    graph.set_last_user_message(wa_id, graph.now())  # as Meta does when a user writes: the window opens
    assert _post_whatsapp(client, graph, encode(valid.payload)) == 200
    assert graph.wait_for(lambda fake: len(fake.messages(wa_id)) >= 1, timeout=120), (
        "a valid message after the garbage was not answered:\n" + server.log_tail()
    )
    for row in _settled_rows(database_url, since):
        _well_formed(row)
        assert row.status == "done", (row.status, row.error)
    _log_is_clean(server)


def _settled_rows(database_url: str, since: dt.datetime, timeout: float = 300) -> list[Any]:
    """The stored rows once the worker has taken each through the engine (or given up on it)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = _stored_rows(database_url, since)
        if not any(row.status in {"pending", "processing"} for row in rows):
            return rows
        assert time.monotonic() < deadline, "the worker did not get through the inbox"
        time.sleep(0.5)


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent in chunks without Content-Length, as a client that hides its size sends it."""
    for _ in range(total // size):
        yield b"{" * size


@pytest.mark.parametrize("path", [TELEGRAM, WHATSAPP, "/webchat/api/messages"])
def test_a_huge_chunked_body_without_length_is_refused(
    server: ServeProcess, client: httpx.Client, path: str
) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "Content-Type": "application/json"}
    if path.startswith("/webchat"):
        headers["X-Lotse-Session"] = client.post("/webchat/api/session").json()["session"]
    response = client.post(path, content=_chunks(4 * 1024 * 1024), headers=headers)
    assert response.status_code == 413
    assert client.get("/healthz").status_code == 200  # and the server is still there
