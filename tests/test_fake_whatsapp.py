"""Self-test of the fake WhatsApp Cloud API, with plain httpx as the client and a tiny webhook receiver.

The fake is only worth something if it rejects what Meta rejects, in Meta's error shape, and if its
webhook side (signed statuses, the 24-hour window) behaves like Meta's; these tests pin that down so
that tests of Lotse's WhatsApp channel against the fake say something about production.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fakes.whatsapp import FakeGraphApi
from tests.fakes.whatsapp_payloads import Built, Webhooks, sign

USER = "4915112345678"
VERIFY_TOKEN = "verify-me"

JsonDict = dict[str, Any]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> JsonDict:
        payload: JsonDict = json.loads(self.body)
        return payload

    def signature_ok(self, app_secret: str) -> bool:
        expected = "sha256=" + hmac.new(app_secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("x-hub-signature-256", ""), expected)


class Receiver:
    """A stand-in for Lotse's webhook: records every POST and answers Meta's verification GET."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.cond:
                    headers = {key.lower(): value for key, value in self.headers.items()}
                    receiver.received.append(Received(headers, body))
                    receiver.cond.notify_all()
                self._answer(200, b"ok")

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                ok = query.get("hub.mode") == ["subscribe"] and query.get("hub.verify_token") == [
                    VERIFY_TOKEN
                ]
                if ok:
                    self._answer(200, query["hub.challenge"][0].encode())
                else:
                    self._answer(403, b"forbidden")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/whatsapp"

    def statuses(self) -> list[JsonDict]:
        with self.cond:
            posts = list(self.received)
        return [
            status
            for post in posts
            for entry in post.payload["entry"]
            for change in entry["changes"]
            for status in change["value"].get("statuses", [])
        ]

    def wait_for_statuses(self, count: int, timeout: float = 3.0) -> list[JsonDict]:
        deadline = time.monotonic() + timeout
        while len(found := self.statuses()) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return found

    def clear(self) -> None:
        with self.cond:
            self.received.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGraphApi]:
    with FakeGraphApi() as fake:
        yield fake


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


@pytest.fixture
def fake(server: FakeGraphApi, receiver: Receiver) -> FakeGraphApi:
    server.reset()  # drops the previous test's status posts not yet made
    assert server.settle(), "a status post of the previous test is still pending"
    server.statuses = True
    server.configure_webhook(receiver.url)
    receiver.clear()
    return server


@pytest.fixture(scope="module")
def client(server: FakeGraphApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers=server.auth_headers(), timeout=5) as http:
        yield http


def send(client: httpx.Client, fake: FakeGraphApi, body: JsonDict) -> httpx.Response:
    return client.post(f"/{fake.version}/{fake.phone_number_id}/messages", json=body)


def text(body: str, to: str = USER) -> JsonDict:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": body},
    }


def buttons(*titles: str, body: str = "Wobei kann ich helfen?") -> JsonDict:
    action = {
        "buttons": [{"type": "reply", "reply": {"id": f"b{i}", "title": t}} for i, t in enumerate(titles)]
    }
    interactive = {"type": "button", "body": {"text": body}, "action": action}
    return {"messaging_product": "whatsapp", "to": USER, "type": "interactive", "interactive": interactive}


def list_message(*rows: tuple[str, str], sections: int = 1) -> JsonDict:
    row_objects = [{"id": row_id, "title": title, "description": "Mehr dazu"} for row_id, title in rows]
    per = -(-len(row_objects) // sections)
    section_list = [
        {"title": f"Teil {n + 1}", "rows": row_objects[n * per : (n + 1) * per]} for n in range(sections)
    ]
    interactive = {
        "type": "list",
        "header": {"type": "text", "text": "Themen"},
        "body": {"text": "Wählen Sie ein Thema."},
        "footer": {"text": "Lotse"},
        "action": {"button": "Themen ansehen", "sections": section_list},
    }
    return {"messaging_product": "whatsapp", "to": USER, "type": "interactive", "interactive": interactive}


def template(*params: str, language: str = "de", name: str = "lotse_reply") -> JsonDict:
    components = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}]
    body = {"name": name, "language": {"code": language}, "components": components}
    return {"messaging_product": "whatsapp", "to": USER, "type": "template", "template": body}


def assert_graph_error(response: httpx.Response, status: int, code: int) -> JsonDict:
    assert response.status_code == status, response.text
    error: JsonDict = response.json()["error"]
    assert error["code"] == code
    assert error["type"] in ("OAuthException", "GraphMethodException")
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fbtrace_id"], str) and error["fbtrace_id"]
    return error


def open_window(fake: FakeGraphApi, wa_id: str = USER) -> None:
    fake.set_last_user_message(wa_id, fake.now())


# ----------------------------------------------------------------------------------- sending


def test_text_send_returns_wamid(fake: FakeGraphApi, client: httpx.Client) -> None:
    open_window(fake)
    response = send(client, fake, text("Guten Tag! 👋", to="+49 151 12345678"))

    assert response.status_code == 200
    answer = response.json()
    assert answer["messaging_product"] == "whatsapp"
    assert answer["contacts"] == [{"input": "+49 151 12345678", "wa_id": USER}]
    [message] = answer["messages"]
    assert message["id"].startswith("wamid.")
    assert fake.texts(USER) == ["Guten Tag! 👋"]
    assert fake.outgoing(USER)[0].id == message["id"]
    assert fake.outside_window() == []
    assert [(call.kind, call.status) for call in fake.calls] == [("message", 200)]


def test_limits_that_are_just_allowed(fake: FakeGraphApi, client: httpx.Client) -> None:
    open_window(fake)
    bodies = [
        text("x" * 4096),
        buttons("a" * 20, "b" * 20, "c" * 20, body="y" * 1024),
        list_message(*[(f"r{i}", f"{i:02d}" + "z" * 22) for i in range(10)], sections=2),
        template("Ihre Frage:   bitte warten"),
    ]
    for body in bodies:
        assert send(client, fake, body).status_code == 200
    assert len(fake.messages(USER)) == 4


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(buttons("Ja", "Nein", "Vielleicht", "Später"), 131009, id="4 buttons"),
        pytest.param(buttons("Ja", "x" * 21), 131009, id="21-char button title"),
        pytest.param(buttons("Ja", "Ja"), 131009, id="duplicate button titles"),
        pytest.param(buttons("Ja", body="y" * 1025), 131009, id="button body over 1024"),
        pytest.param(
            list_message(*[(f"r{i}", f"Row {i}") for i in range(11)], sections=2), 131009, id="11 rows"
        ),
        pytest.param(list_message(("r1", "x" * 25)), 131009, id="25-char row title"),
        pytest.param(list_message(("r1", "A"), ("r1", "B")), 131009, id="duplicate row ids"),
        pytest.param(template("Zeile 1\nZeile 2"), 132018, id="template newline param"),
        pytest.param(template("a     b"), 132018, id="template five spaces"),
        pytest.param(template("Hallo", language="fr"), 132001, id="unknown template language"),
        pytest.param(template("Hallo", name="nope"), 132001, id="unknown template"),
        pytest.param(text(""), 100, id="empty text"),
        pytest.param(text("x" * 4097), 100, id="text over 4096"),
        pytest.param({**text("Hallo"), "to": ""}, 100, id="missing to"),
        pytest.param({**text("Hallo"), "messaging_product": "sms"}, 100, id="wrong messaging_product"),
    ],
)
def test_invalid_sends_get_graph_errors(
    fake: FakeGraphApi, client: httpx.Client, body: JsonDict, code: int
) -> None:
    open_window(fake)
    error = assert_graph_error(send(client, fake, body), 400, code)
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert error["error_data"]["details"]
    assert fake.outgoing() == []


def test_list_with_several_sections_needs_section_titles(fake: FakeGraphApi, client: httpx.Client) -> None:
    open_window(fake)
    body = list_message(("r1", "Kita"), ("r2", "Schule"), sections=2)
    del body["interactive"]["action"]["sections"][1]["title"]
    assert_graph_error(send(client, fake, body), 400, 131008)  # "Required parameter is missing"


def test_bad_token_wrong_number_and_version(fake: FakeGraphApi, client: httpx.Client) -> None:
    url = f"/{fake.version}/{fake.phone_number_id}/messages"
    error = assert_graph_error(
        client.post(url, json=text("Hallo"), headers={"Authorization": "Bearer expired"}), 401, 190
    )
    assert error["error_subcode"] == 463 and error["message"].startswith("Error validating access token")
    assert_graph_error(client.post(url, json=text("Hallo"), headers={"Authorization": ""}), 401, 190)
    assert_graph_error(client.post(f"/{fake.version}/999/messages", json=text("Hallo")), 400, 100)
    assert_graph_error(client.post(f"/v1.0/{fake.phone_number_id}/messages", json=text("Hallo")), 400, 100)
    assert [call.status for call in fake.calls] == [401, 401, 400, 400]


def test_mark_as_read(fake: FakeGraphApi, client: httpx.Client) -> None:
    inbound = fake.webhooks.text(USER, "Hallo")
    read = {"messaging_product": "whatsapp", "status": "read", "message_id": inbound.message_id}
    response = send(client, fake, read)
    assert response.status_code == 200 and response.json() == {"success": True}
    assert fake.reads == [read] and fake.outgoing() == []


# ------------------------------------------------------------------------- webhook and window


def test_statuses_are_signed_and_posted_after_a_send(
    fake: FakeGraphApi, client: httpx.Client, receiver: Receiver
) -> None:
    assert fake.user_sends(fake.webhooks.text(USER, "Hallo")) == 200
    wamid = send(client, fake, text("Hallo, wie kann ich helfen?")).json()["messages"][0]["id"]

    statuses = receiver.wait_for_statuses(2)
    assert [(s["id"], s["status"], s["recipient_id"]) for s in statuses] == [
        (wamid, "sent", USER),
        (wamid, "delivered", USER),
    ]
    assert all(post.signature_ok(fake.app_secret) for post in receiver.received)
    assert fake.wait_for(lambda f: len(f.posted_statuses(wamid)) == 2, timeout=2)


def test_outside_the_window_meta_accepts_then_fails(
    fake: FakeGraphApi, client: httpx.Client, receiver: Receiver
) -> None:
    assert fake.user_sends(fake.webhooks.text(USER, "Hallo")) == 200
    [inbound] = receiver.received
    assert inbound.signature_ok(fake.app_secret)
    assert inbound.payload["entry"][0]["changes"][0]["value"]["messages"][0]["text"] == {"body": "Hallo"}
    receiver.clear()

    fake.clock_offset = 25 * 3600
    response = send(client, fake, text("Sind Sie noch da?"))
    assert response.status_code == 200  # Meta does not say no at once
    wamid = response.json()["messages"][0]["id"]
    assert fake.messages(USER) == [] and fake.texts(USER) == []
    assert [body["text"]["body"] for body in fake.outside_window(USER)] == ["Sind Sie noch da?"]

    [failed] = receiver.wait_for_statuses(1)
    assert failed["id"] == wamid and failed["status"] == "failed"
    assert failed["errors"][0]["code"] == 131047 and failed["errors"][0]["title"] == "Re-engagement message"
    [post] = receiver.received
    assert post.signature_ok(fake.app_secret)
    assert "messages" not in post.payload["entry"][0]["changes"][0]["value"]

    # Templates may be sent at any time.
    assert send(client, fake, template("Ihre Beraterin hat geantwortet.")).status_code == 200
    assert fake.texts(USER) == ["Ihre Beraterin hat geantwortet."]


def test_window_is_closed_for_users_who_never_wrote(fake: FakeGraphApi, client: httpx.Client) -> None:
    fake.statuses = False
    assert send(client, fake, buttons("Ja", "Nein")).status_code == 200
    assert len(fake.outside_window(USER)) == 1 and fake.last_interactive(USER) is None


async def test_async_user_and_await_for(fake: FakeGraphApi, receiver: Receiver) -> None:
    assert await fake.auser_sends(fake.webhooks.image(USER, caption="Brief vom Amt")) == 200
    assert fake.in_window(USER)
    async with httpx.AsyncClient(base_url=fake.base_url, headers=fake.auth_headers()) as client:
        response = await client.post(fake.messages_url, json=text("Danke für das Foto."))
    wamid = response.json()["messages"][0]["id"]
    assert await fake.await_for(lambda f: len(f.posted_statuses(wamid)) == 2, timeout=2)


def test_verification_and_forged_posts(fake: FakeGraphApi, receiver: Receiver) -> None:
    assert fake.verify("subscribe", VERIFY_TOKEN, "1158201444").text == "1158201444"
    assert fake.verify("subscribe", "wrong", "1158201444").status_code == 403
    built = fake.webhooks.text(USER, "Hallo")
    assert fake.post_raw(built.body, built.headers("not-the-secret")) == 200  # the receiver does not check
    assert not receiver.received[0].signature_ok(fake.app_secret)
    assert fake.last_user_message(USER) is None  # a forged post opens no window


# --------------------------------------------------------------------------------- navigation


def test_reply_to_choice_builds_a_list_reply(fake: FakeGraphApi, client: httpx.Client) -> None:
    open_window(fake)
    wamid = send(
        client, fake, list_message(("kita", "Kita und Krippe"), ("schule", "Schule"), ("arzt", "Arzt…"))
    ).json()["messages"][0]["id"]

    reply = fake.reply_to_choice(USER, "Kita")  # a prefix is enough
    assert reply.message["type"] == "interactive"
    assert reply.message["context"]["id"] == wamid
    assert reply.message["interactive"] == {
        "type": "list_reply",
        "list_reply": {"id": "kita", "title": "Kita und Krippe", "description": "Mehr dazu"},
    }
    assert (
        fake.reply_to_choice(USER, "Arzt und Apotheke").message["interactive"]["list_reply"]["id"] == "arzt"
    )
    with pytest.raises(AssertionError, match="Schule"):
        fake.reply_to_choice(USER, "Wohnung")


def test_reply_to_choice_builds_a_button_reply(fake: FakeGraphApi, client: httpx.Client) -> None:
    open_window(fake)
    send(client, fake, buttons("Ja", "Nein"))
    reply = fake.reply_to_choice(USER, "Nein")
    assert reply.message["interactive"] == {
        "type": "button_reply",
        "button_reply": {"id": "b1", "title": "Nein"},
    }


# ---------------------------------------------------------------------------------- failures


def test_fail_next_and_heal(fake: FakeGraphApi, client: httpx.Client) -> None:
    open_window(fake)
    fake.fail_next(130429)
    assert_graph_error(send(client, fake, text("eins")), 429, 130429)
    assert send(client, fake, text("zwei")).status_code == 200

    fake.fail_next(131000, http_status=500, count=2)
    read = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.ABC="}
    assert send(client, fake, read).status_code == 200  # reads do not use up injected failures
    assert_graph_error(send(client, fake, text("drei")), 500, 131000)
    fake.heal()
    assert send(client, fake, text("vier")).status_code == 200

    fake.fail_next(190)
    assert assert_graph_error(send(client, fake, text("fünf")), 401, 190)["error_subcode"] == 463
    fake.down()
    assert_graph_error(send(client, fake, text("sechs")), 503, 131016)
    assert_graph_error(send(client, fake, read), 503, 131016)
    fake.heal()
    assert fake.texts(USER) == ["zwei", "vier"]


# ---------------------------------------------------------------------------------- payloads


def test_payload_shapes_and_signature() -> None:
    hooks = Webhooks("1098765432")
    built = hooks.text(USER, "Привіт", name="Olena", timestamp=1_700_000_000)
    value = built.value
    assert built.payload["object"] == "whatsapp_business_account"
    assert value["metadata"] == {"display_phone_number": "15550009999", "phone_number_id": "1098765432"}
    assert value["contacts"] == [{"profile": {"name": "Olena"}, "wa_id": USER}]
    assert built.message == {
        "from": USER,
        "id": built.message_id,
        "timestamp": "1700000000",
        "type": "text",
        "text": {"body": "Привіт"},
    }
    assert "Привіт".encode() in built.body  # not \\u-escaped
    assert built.headers("s3cret")["X-Hub-Signature-256"] == sign(built.body, "s3cret")

    assert "emoji" not in hooks.reaction(USER, built.message_id, "").message["reaction"]
    assert hooks.audio(USER).message["audio"]["voice"] is True
    assert hooks.document(USER, "bescheid.pdf").message["document"]["mime_type"] == "application/pdf"
    assert hooks.unsupported(USER).message["errors"][0]["code"] == 131051

    status = hooks.statuses(USER, "wamid.X=", "failed")
    assert set(status.value) == {"messaging_product", "metadata", "statuses"}
    assert status.value["statuses"][0]["errors"][0]["code"] == 131047

    merged: Built = hooks.batch(
        hooks.text(USER, "eins"), hooks.text(USER, "zwei"), hooks.text("491700000", "x")
    )
    assert [m["text"]["body"] for m in merged.value["messages"]] == ["eins", "zwei", "x"]
    assert [c["wa_id"] for c in merged.value["contacts"]] == [USER, "491700000"]
    assert len(set(merged.message_ids)) == 3
