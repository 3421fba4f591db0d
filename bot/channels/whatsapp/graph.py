"""The Graph API's messages endpoint, over httpx, and what its errors mean for a delivery.

One endpoint does everything Lotse needs: `POST /<version>/<phone number id>/messages` sends a
message or marks one as read. The transport can be swapped (tests run against a fake Graph API over
real HTTP; `httpx.MockTransport` also fits), the base URL and API version come from the settings.

Graph errors carry a numeric code in the body; the HTTP status alone does not say whether trying
again helps (a rate limit may come as 400), so the code decides.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

from bot.channels.errors import ChannelError
from bot.pipeline.errors import RetryLater, Undeliverable

log = logging.getLogger(__name__)

# Codes where waiting helps: throughput and pair rate limits, spam rate limit, temporary trouble at Meta.
RETRY_CODES = frozenset({4, 80007, 130429, 131000, 131016, 131048, 131056, 133004})
# Codes that no retry fixes, with what the console and the log say about them.
FINAL_CODES: Mapping[int, str] = {
    190: "Zugangs-Token für WhatsApp abgelaufen oder ungültig (WHATSAPP_TOKEN erneuern)",
    131047: "Außerhalb des 24-Stunden-Fensters von WhatsApp (Nachricht nur als Vorlage möglich)",
    131026: "Nachricht nicht zustellbar (Nummer nicht bei WhatsApp, oder alte App-Version)",
    131030: "Empfängernummer ist nicht freigegeben (Testnummer-Liste)",
    131049: "WhatsApp hat die Nachricht zum Schutz der Nutzerin oder des Nutzers nicht zugestellt",
    131050: "Die Person hat Nachrichten dieses Absenders abbestellt",
    132000: "Anzahl der Werte passt nicht zur Vorlage",
    132001: "Vorlage in dieser Sprache nicht vorhanden oder nicht freigegeben",
    132018: "Werte der Vorlage ungültig",
    368: "Absender wegen Richtlinienverstoß vorübergehend gesperrt",
}


class GraphError(ChannelError):
    """An error answer of the Graph API."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"Graph API {status} code {code}: {message}")
        self.status = status  # HTTP status
        self.code = code
        self.message = message


def describe(code: int | None, message: str) -> str:
    """The error as the console shows it: Lotse's German explanation, else Meta's own words."""
    known = FINAL_CODES.get(code) if code is not None else None
    return f"{code}: {known}" if known else f"{code}: {message}"


def as_delivery_error(exc: GraphError | httpx.HTTPError) -> RetryLater | Undeliverable:
    """Whether the sender should try again later, or record the message as undeliverable."""
    if isinstance(exc, httpx.HTTPError):  # timeouts, refused connections
        return RetryLater(f"{type(exc).__name__}: {exc}")
    if exc.code in RETRY_CODES or exc.status == 429 or exc.status >= 500:
        return RetryLater(str(exc))
    if exc.code == 190:
        log.error("WhatsApp refused the access token; set a valid WHATSAPP_TOKEN")
    return Undeliverable(describe(exc.code, exc.message))


class GraphClient:
    def __init__(
        self,
        token: str,
        phone_number_id: str,
        base_url: str,
        version: str,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._path = f"/{version.strip('/')}/{phone_number_id}/messages"
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout, connect=5.0),
            transport=transport,
            limits=httpx.Limits(max_connections=32),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def send(self, to: str, message: Mapping[str, Any]) -> str:
        """Send one message (the part after `to`: type and content); returns WhatsApp's message id."""
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **message}
        data = await self._post(body)
        try:
            return str(data["messages"][0]["id"])
        except (KeyError, IndexError, TypeError) as exc:
            raise GraphError(200, None, "answer without a message id") from exc

    async def mark_read(self, message_id: str) -> None:
        """Two blue ticks for the user: their message was read (by Lotse)."""
        await self._post({"messaging_product": "whatsapp", "status": "read", "message_id": message_id})

    async def _post(self, body: Mapping[str, Any]) -> dict[str, Any]:
        response = await self._http.post(self._path, json=body)
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.is_success and isinstance(data, dict):
            return data
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            code = error.get("code")
            raise GraphError(
                response.status_code,
                code if isinstance(code, int) else None,
                str(error.get("message", ""))[:200],
            )
        raise GraphError(response.status_code, None, response.reason_phrase or "no error body")
