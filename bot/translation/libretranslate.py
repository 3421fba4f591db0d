"""A client of a (self-hosted) LibreTranslate server.

Why an own client and not deep-translator's `LibreTranslator`: that class (1) checks languages
against a list that lacks Persian and Ukrainian, two of Lotse's seven languages; (2) refuses to work
without an API key, which a district's own instance usually does not have; (3) sends the text in the
URL's query string, so long Arabic messages hit URL length limits and every message lands in the
access logs of any proxy in between; (4) sets no timeout, so a hanging server holds a thread for
ever; and (5) drops LibreTranslate's error message. Working around all five in a subclass would
replace nearly every line of it, while the protocol is a single JSON POST.

Protocol: `POST {base}/translate` with JSON `{q, source, target, format: "text", api_key?}` answers
`{"translatedText": "..."}`; errors are `{"error": "..."}` with 400 (bad request, unsupported
language), 403 (API key), 429 (rate limit) or 500. `source` may be "auto". Persian is `fa` (Dari
users write it too), Ukrainian `uk`.
"""

from __future__ import annotations

from typing import Any

import httpx

from bot.translation.errors import TranslationRejected, TranslationUnavailable

DEFAULT_CHAR_LIMIT = 5000
"""LibreTranslate's default `--char-limit`; an instance started with another one needs `max_chars`."""


class LibreTranslateClient:
    """Blocking calls to one LibreTranslate server; safe to share between the service's threads."""

    name = "libre"

    def __init__(
        self,
        base_url: str,
        api_key: str = "",
        *,
        timeout: float = 8.0,
        max_chars: int = DEFAULT_CHAR_LIMIT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_chars = max_chars
        self._api_key = api_key
        # The HTTP timeout matches the service's deadline, so that a thread given up on is free again
        # soon after, instead of holding one of the few pool threads.
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def translate(self, text: str, source: str, target: str) -> str:
        body: dict[str, Any] = {"q": text, "source": source, "target": target, "format": "text"}
        if self._api_key:
            body["api_key"] = self._api_key
        data = self._call("POST", "/translate", json=body)
        translated = data.get("translatedText") if isinstance(data, dict) else None
        if not isinstance(translated, str):
            raise TranslationUnavailable(f"LibreTranslate at {self.base_url} answered without a translation")
        return translated

    def languages(self) -> dict[str, list[str]]:
        """The server's languages and each one's targets, to check at start that all of Lotse's exist."""
        data = self._call("GET", "/languages")
        if not isinstance(data, list):
            raise TranslationUnavailable(f"LibreTranslate at {self.base_url} sent no language list")
        return {
            str(entry["code"]): [str(code) for code in entry.get("targets", [])]
            for entry in data
            if isinstance(entry, dict) and "code" in entry
        }

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, json: dict[str, Any] | None = None) -> Any:
        where = f"LibreTranslate at {self.base_url}"
        try:
            response = self._http.request(method, path, json=json)
        except httpx.TimeoutException:
            raise TranslationUnavailable(f"{where} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise TranslationUnavailable(f"{where} is unreachable: {exc}") from None
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError:
                raise TranslationUnavailable(f"{where} sent an answer that is not JSON") from None
        error = _error_message(response)
        status = response.status_code
        if status == 400:
            raise TranslationRejected(f"{where} refused the request: {error}")
        if status == 403:
            raise TranslationUnavailable(f"{where} refused the API key (LIBRETRANSLATE_API_KEY): {error}")
        if status == 429:
            raise TranslationUnavailable(f"{where} is rate limiting Lotse: {error}")
        raise TranslationUnavailable(f"{where} failed with HTTP {status}: {error}")


def _error_message(response: httpx.Response) -> str:
    """LibreTranslate's `{"error": ...}`, or the start of whatever a proxy in front of it sent."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return response.text.strip()[:200] or response.reason_phrase
