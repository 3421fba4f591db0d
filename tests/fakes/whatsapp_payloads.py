"""Builders of the webhook payloads Meta POSTs for the WhatsApp Cloud API, and their signature.

Tests use these to play the WhatsApp user (inbound messages) and Meta (delivery statuses) against
Lotse's webhook, through `FakeGraphApi.user_sends` or any HTTP client. The payloads carry the envelope
Meta really sends (`object`, `entry[].changes[].value` with `metadata` and `contacts`), not only the
fields a parser happens to read, so an adapter that trips over the nesting fails here and not in
production.

Conventions, as at Meta: message ids are opaque "wamid.…" strings, timestamps are unix seconds written
as strings, a reply to an interactive message names that message in `context`, and a removed reaction
comes without its `emoji` field. Bodies are compact UTF-8 JSON; the signature in `X-Hub-Signature-256`
is an HMAC-SHA256 of exactly those bytes with the app secret, which is why `Built.body` and
`Built.headers` must be used together.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import mimetypes
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

JsonDict = dict[str, Any]

DEFAULT_NAME = "Amina"
WINDOW_CLOSED = 131047
WINDOW_CLOSED_TITLE = "Re-engagement message"
WINDOW_CLOSED_DETAILS = (
    "Message failed to send because more than 24 hours have passed since the customer last replied "
    "to this number."
)


def sign(body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` value Meta sends: "sha256=" and the hex HMAC-SHA256 of the raw body."""
    digest = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def encode(payload: JsonDict) -> bytes:
    """Compact UTF-8 JSON: the exact bytes that are signed and sent."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def new_wamid(wa_id: str = "") -> str:
    """A fresh message id in Meta's look: "wamid." and base64 of the recipient's number and random bytes.

    Clients must treat these as opaque; they are unique per call, which is all a test relies on.
    """
    digits = "".join(ch for ch in wa_id if ch.isdigit()).encode("ascii")
    raw = (
        b"\x1c\x18"
        + bytes([len(digits)])
        + digits
        + b"\x15\x02\x00\x12\x18\x14"
        + os.urandom(10).hex().upper().encode()
    )
    return "wamid." + base64.b64encode(raw + b"\x00").decode("ascii")


def new_media_id() -> str:
    """Media ids are long decimal strings at Meta."""
    return str(10**15 + secrets.randbelow(9 * 10**15))


def window_closed_error() -> JsonDict:
    """The error a "failed" status carries when a free-form message missed the 24-hour window."""
    return {
        "code": WINDOW_CLOSED,
        "title": WINDOW_CLOSED_TITLE,
        "message": WINDOW_CLOSED_TITLE,
        "error_data": {"details": WINDOW_CLOSED_DETAILS},
    }


@dataclass(frozen=True)
class Built:
    """One webhook POST: the payload, the id of the message it is about, and its signed bytes.

    `message_id` is the inbound message's wamid (for statuses: the outgoing message the status is
    about); `message_ids` lists all of them for a batch. `wa_id` is the user's WhatsApp id. The payload
    is a plain dict that a test may change before sending (to forge something): `body` is computed from
    it on every access, so the signature always matches what is sent.
    """

    payload: JsonDict
    message_id: str
    wa_id: str
    message_ids: tuple[str, ...] = ()

    @property
    def body(self) -> bytes:
        return encode(self.payload)

    def headers(self, app_secret: str) -> dict[str, str]:
        """The headers Meta sends with this body, signed with `app_secret`."""
        return {"Content-Type": "application/json", "X-Hub-Signature-256": sign(self.body, app_secret)}

    @property
    def value(self) -> JsonDict:
        """`entry[0].changes[0].value`, where the messages or statuses are."""
        value: JsonDict = self.payload["entry"][0]["changes"][0]["value"]
        return value

    @property
    def message(self) -> JsonDict:
        """The first inbound message of the payload."""
        message: JsonDict = self.value["messages"][0]
        return message


class Webhooks:
    """Builds the payloads Meta posts for one business phone number.

    Every builder takes `timestamp` (unix seconds; default now) and returns a `Built`.
    """

    def __init__(
        self, phone_number_id: str, display_phone_number: str = "15550009999", waba_id: str = "WABA-1"
    ) -> None:
        self.phone_number_id = phone_number_id
        self.display_phone_number = display_phone_number
        self.waba_id = waba_id

    # ------------------------------------------------------------------------------- plumbing

    def envelope(self, value: JsonDict) -> JsonDict:
        """Wrap a change value as Meta does: one entry for the business account, one "messages" change."""
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": self.waba_id, "changes": [{"field": "messages", "value": value}]}],
        }

    def _metadata(self) -> JsonDict:
        return {"display_phone_number": self.display_phone_number, "phone_number_id": self.phone_number_id}

    def _context(self, context_id: str | None) -> JsonDict:
        # Replies to interactive messages always name the message replied to; an unknown id stands in
        # for a message the test does not care about.
        return {"from": self.display_phone_number, "id": context_id or new_wamid(self.display_phone_number)}

    def _inbound(
        self,
        wa_id: str,
        kind: str,
        content: JsonDict,
        *,
        name: str,
        timestamp: float | None,
        context: JsonDict | None = None,
    ) -> Built:
        message_id = new_wamid(wa_id)
        message: JsonDict = {}
        if context is not None:
            message["context"] = context
        message.update({"from": wa_id, "id": message_id, "timestamp": _stamp(timestamp), "type": kind})
        message.update(content)
        value: JsonDict = {
            "messaging_product": "whatsapp",
            "metadata": self._metadata(),
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": [message],
        }
        return Built(self.envelope(value), message_id, wa_id, (message_id,))

    # -------------------------------------------------------------------------------- messages

    def text(
        self, wa_id: str, body: str, name: str = DEFAULT_NAME, *, timestamp: float | None = None
    ) -> Built:
        """A plain text message."""
        return self._inbound(wa_id, "text", {"text": {"body": body}}, name=name, timestamp=timestamp)

    def button_reply(
        self,
        wa_id: str,
        id: str,
        title: str,
        context_id: str | None = None,
        name: str = DEFAULT_NAME,
        *,
        timestamp: float | None = None,
    ) -> Built:
        """The user tapped a reply button of an interactive "button" message (`context_id`)."""
        content = {"interactive": {"type": "button_reply", "button_reply": {"id": id, "title": title}}}
        return self._inbound(
            wa_id, "interactive", content, name=name, timestamp=timestamp, context=self._context(context_id)
        )

    def list_reply(
        self,
        wa_id: str,
        id: str,
        title: str,
        description: str | None = None,
        context_id: str | None = None,
        name: str = DEFAULT_NAME,
        *,
        timestamp: float | None = None,
    ) -> Built:
        """The user picked a row of an interactive "list" message (`context_id`)."""
        row: JsonDict = {"id": id, "title": title}
        if description is not None:
            row["description"] = description
        content = {"interactive": {"type": "list_reply", "list_reply": row}}
        return self._inbound(
            wa_id, "interactive", content, name=name, timestamp=timestamp, context=self._context(context_id)
        )

    def template_button(
        self,
        wa_id: str,
        payload: str,
        text: str,
        context_id: str | None = None,
        name: str = DEFAULT_NAME,
        *,
        timestamp: float | None = None,
    ) -> Built:
        """The user tapped a quick-reply button of a template message: type "button", not "interactive"."""
        content = {"button": {"payload": payload, "text": text}}
        return self._inbound(
            wa_id, "button", content, name=name, timestamp=timestamp, context=self._context(context_id)
        )

    def image(
        self,
        wa_id: str,
        caption: str | None = None,
        name: str = DEFAULT_NAME,
        *,
        timestamp: float | None = None,
    ) -> Built:
        """A photo; the media itself would be fetched by id, which the fake does not serve."""
        return self._media(wa_id, "image", "image/jpeg", caption=caption, name=name, timestamp=timestamp)

    def audio(
        self, wa_id: str, voice: bool = True, name: str = DEFAULT_NAME, *, timestamp: float | None = None
    ) -> Built:
        """A voice note (`voice=True`, Opus in Ogg, as recorded in the app) or a forwarded audio file."""
        mime = "audio/ogg; codecs=opus" if voice else "audio/mpeg"
        return self._media(wa_id, "audio", mime, extra={"voice": voice}, name=name, timestamp=timestamp)

    def video(
        self,
        wa_id: str,
        caption: str | None = None,
        name: str = DEFAULT_NAME,
        *,
        timestamp: float | None = None,
    ) -> Built:
        return self._media(wa_id, "video", "video/mp4", caption=caption, name=name, timestamp=timestamp)

    def document(
        self,
        wa_id: str,
        filename: str,
        caption: str | None = None,
        name: str = DEFAULT_NAME,
        *,
        timestamp: float | None = None,
    ) -> Built:
        """A file, e.g. a scanned letter from an authority; the MIME type follows the file name."""
        mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return self._media(
            wa_id,
            "document",
            mime,
            caption=caption,
            extra={"filename": filename},
            name=name,
            timestamp=timestamp,
        )

    def sticker(
        self, wa_id: str, animated: bool = False, name: str = DEFAULT_NAME, *, timestamp: float | None = None
    ) -> Built:
        return self._media(
            wa_id, "sticker", "image/webp", extra={"animated": animated}, name=name, timestamp=timestamp
        )

    def _media(
        self,
        wa_id: str,
        kind: str,
        mime_type: str,
        *,
        name: str,
        timestamp: float | None,
        caption: str | None = None,
        extra: JsonDict | None = None,
    ) -> Built:
        media: JsonDict = {}
        if caption is not None:
            media["caption"] = caption
        media.update(extra or {})
        media.update(
            {
                "mime_type": mime_type,
                "sha256": base64.b64encode(os.urandom(32)).decode("ascii"),
                "id": new_media_id(),
            }
        )
        return self._inbound(wa_id, kind, {kind: media}, name=name, timestamp=timestamp)

    def location(
        self,
        wa_id: str,
        lat: float,
        lon: float,
        name: str | None = None,
        address: str | None = None,
        sender_name: str = DEFAULT_NAME,
        *,
        timestamp: float | None = None,
    ) -> Built:
        """A shared location; `name`/`address` are only there when the user picked a place."""
        location: JsonDict = {"latitude": lat, "longitude": lon}
        if name is not None:
            location["name"] = name
        if address is not None:
            location["address"] = address
        return self._inbound(wa_id, "location", {"location": location}, name=sender_name, timestamp=timestamp)

    def reaction(
        self,
        wa_id: str,
        message_id: str,
        emoji: str,
        name: str = DEFAULT_NAME,
        *,
        timestamp: float | None = None,
    ) -> Built:
        """A reaction to `message_id`; `emoji=""` is the removal, which Meta sends without `emoji`."""
        reaction: JsonDict = {"message_id": message_id}
        if emoji:
            reaction["emoji"] = emoji
        return self._inbound(wa_id, "reaction", {"reaction": reaction}, name=name, timestamp=timestamp)

    def contacts(
        self,
        wa_id: str,
        contact_name: str = "Max Mustermann",
        phone: str = "+49 171 2345678",
        name: str = DEFAULT_NAME,
        *,
        timestamp: float | None = None,
    ) -> Built:
        """A shared contact card (a vCard turned into Meta's contacts object)."""
        first, _, last = contact_name.partition(" ")
        card_name: JsonDict = {"formatted_name": contact_name, "first_name": first}
        if last:
            card_name["last_name"] = last
        digits = "".join(ch for ch in phone if ch.isdigit())
        card = {"name": card_name, "phones": [{"phone": phone, "wa_id": digits, "type": "CELL"}]}
        return self._inbound(wa_id, "contacts", {"contacts": [card]}, name=name, timestamp=timestamp)

    def unsupported(self, wa_id: str, name: str = DEFAULT_NAME, *, timestamp: float | None = None) -> Built:
        """Something the Cloud API cannot pass on (a poll, a view-once photo…): type "unsupported"."""
        errors = [
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ]
        return self._inbound(wa_id, "unsupported", {"errors": errors}, name=name, timestamp=timestamp)

    # -------------------------------------------------------------------------------- statuses

    def statuses(
        self,
        recipient_id: str,
        message_id: str,
        status: str,
        errors: list[JsonDict] | None = None,
        *,
        timestamp: float | None = None,
    ) -> Built:
        """A status of an outgoing message: "sent", "delivered", "read" or "failed".

        A failed status carries `errors` (default: 131047, the closed 24-hour window). The value has
        no "messages" and no "contacts" key, as at Meta.
        """
        if status not in ("sent", "delivered", "read", "failed"):
            raise ValueError(f"unknown status {status!r}")
        entry: JsonDict = {
            "id": message_id,
            "status": status,
            "timestamp": _stamp(timestamp),
            "recipient_id": recipient_id,
        }
        if status == "failed":
            entry["errors"] = copy.deepcopy(errors) if errors is not None else [window_closed_error()]
        else:
            entry["pricing"] = {
                "billable": False,
                "pricing_model": "PMP",
                "category": "service",
                "type": "free_customer_service",
            }
            if errors:
                entry["errors"] = copy.deepcopy(errors)
        value = {"messaging_product": "whatsapp", "metadata": self._metadata(), "statuses": [entry]}
        return Built(self.envelope(value), message_id, recipient_id, (message_id,))

    # ----------------------------------------------------------------------------------- batch

    def batch(self, *built: Built) -> Built:
        """Several payloads in one POST, as Meta delivers bursts: messages, contacts and statuses merged.

        Contacts are listed once per user. The result's `message_id`/`wa_id` are the first payload's.
        """
        if not built:
            raise ValueError("batch() needs at least one payload")
        value: JsonDict = {"messaging_product": "whatsapp", "metadata": self._metadata()}
        contacts: list[JsonDict] = []
        messages: list[JsonDict] = []
        statuses: list[JsonDict] = []
        for part in built:
            part_value = part.value
            for contact in part_value.get("contacts", []):
                if all(contact["wa_id"] != seen["wa_id"] for seen in contacts):
                    contacts.append(copy.deepcopy(contact))
            messages.extend(copy.deepcopy(part_value.get("messages", [])))
            statuses.extend(copy.deepcopy(part_value.get("statuses", [])))
        if contacts:
            value["contacts"] = contacts
        if messages:
            value["messages"] = messages
        if statuses:
            value["statuses"] = statuses
        ids = tuple(message_id for part in built for message_id in (part.message_ids or (part.message_id,)))
        return Built(self.envelope(value), built[0].message_id, built[0].wa_id, ids)


def _stamp(timestamp: float | None) -> str:
    return str(int(time.time() if timestamp is None else timestamp))


def inbound_messages(payload: JsonDict) -> list[JsonDict]:
    """Every inbound message in a webhook payload, across entries and changes (statuses excluded)."""
    found: list[JsonDict] = []
    for entry in payload.get("entry", []) if isinstance(payload, dict) else []:
        for change in entry.get("changes", []) if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if isinstance(value, dict):
                found.extend(m for m in value.get("messages", []) if isinstance(m, dict))
    return found
