"""A fake LibreTranslate server for tests that speaks the real protocol over real HTTP.

Why real HTTP: Lotse's client turns status codes, error bodies, timeouts and refused connections
into its own errors, and the service's deadline and circuit breaker react to how long the server
takes. Only a server on a socket exercises all of that as it runs in production; `python -m
tests.fakes.libretranslate` serves the same fake for a manual demo of the console.

Faithful to LibreTranslate where Lotse can notice:

- `POST /translate` takes JSON, or a form (urlencoded body and query string merged, as LibreTranslate
  reads `request.values`). `q` is a string or, in JSON, a list; the answer's `translatedText` has the
  same shape. `source` may be "auto": the answer then carries `detectedLanguage` (guessed from the
  script, which is enough to tell Lotse's seven languages apart in tests).
- Errors are `{"error": "..."}` with LibreTranslate's wording: 400 for a missing parameter, an
  unsupported language or format or a text over the character limit; 403 "Invalid API key" when the
  fake has a key and the request brings another one or none.
- `GET /languages` lists the seven languages with their targets.

Translations are deterministic: a phrasebook `{(source, target, text): translation}`, and for
everything else `[source→target] text`, which a test can recognise and undo (`untranslate`).
A service in front of LibreTranslate that is down answers 503 with an HTML page, as a reverse proxy
does; `down()` imitates that.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

LANGUAGES: dict[str, str] = {
    "de": "German",
    "en": "English",
    "ar": "Arabic",
    "fa": "Persian",
    "uk": "Ukrainian",
    "ru": "Russian",
    "tr": "Turkish",
}
DEFAULT_CHAR_LIMIT = 5000
Phrasebook = Mapping[tuple[str, str, str], str]

_DEFAULT_ERRORS = {
    400: "Invalid request",
    403: "Invalid API key",
    429: "Too many request limits violations",
    500: "Cannot translate text: fake failure",
}
_PROXY_PAGE = "<html><head><title>503 Service Temporarily Unavailable</title></head></html>"
_FALLBACK = re.compile(r"\[([a-z]+)→([a-z]+)\] ")


def fallback(text: str, source: str, target: str) -> str:
    """What the fake answers for a text its phrasebook does not know."""
    return f"[{source}→{target}] {text}"


def untranslate(text: str) -> str:
    """Remove the fallback markers again, to compare a translated text with its original."""
    return _FALLBACK.sub("", text)


def detect(text: str) -> str:
    """A guess by script, deterministic and good enough for Lotse's seven languages in tests."""
    if re.search(r"[پچژگکی]", text):
        return "fa"
    if re.search(r"[\u0600-\u06ff]", text):
        return "ar"
    if re.search(r"[іїєґІЇЄҐ]", text):
        return "uk"
    if re.search(r"[\u0400-\u04ff]", text):
        return "ru"
    if re.search(r"[ğışİĞŞ]", text):
        return "tr"
    if re.search(r"[äöüßÄÖÜ]", text):
        return "de"
    return "en"


@dataclass(frozen=True)
class LibreRequest:
    """One request the fake received, and what it answered."""

    method: str
    path: str
    params: dict[str, Any]
    status: int
    at: float

    @property
    def api_key(self) -> str | None:
        key = self.params.get("api_key")
        return key if isinstance(key, str) else None

    @property
    def q(self) -> Any:
        return self.params.get("q")


class _ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class FakeLibreTranslate:
    """A LibreTranslate server on 127.0.0.1 in a background thread; use as a context manager.

    Every handler runs in its own thread (ThreadingHTTPServer), so a hanging response does not stop
    the others, and the recorded requests are guarded by a lock because the test thread reads them.
    """

    def __init__(
        self,
        phrasebook: Phrasebook | None = None,
        *,
        api_key: str | None = None,
        char_limit: int = DEFAULT_CHAR_LIMIT,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.phrasebook: dict[tuple[str, str, str], str] = dict(phrasebook or {})
        self.api_key = api_key
        self.char_limit = char_limit
        self._address = (host, port)
        self._lock = threading.Lock()
        self._requests: list[LibreRequest] = []
        self._failures: list[tuple[int, str | None]] = []
        self._down = False
        self._delay = 0.0
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeLibreTranslate:
        fake = self

        class Handler(_Handler):
            owner = fake

        server = ThreadingHTTPServer(self._address, Handler)
        server.daemon_threads = True
        self._server = server
        # A short poll interval, because `stop()` waits for the next poll (0.5 s by default) in every test.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.02,), name="fake-libretranslate", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # let hanging responses finish, so no handler outlives the test long
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeLibreTranslate:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake LibreTranslate is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- what happened -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[LibreRequest]:
        """Every request so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def translations(self) -> list[LibreRequest]:
        """The `POST /translate` requests so far."""
        return [r for r in self.requests if r.path == "/translate"]

    def reset(self) -> None:
        """Forget the recorded requests and heal."""
        with self._lock:
            self._requests.clear()
        self.heal()

    # -- controls ----------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500, error: str | None = None) -> None:
        """Answer the next `n` requests with `status` and LibreTranslate's `{"error": ...}` body."""
        with self._lock:
            self._failures.extend([(status, error)] * n)

    def hang(self, seconds: float) -> None:
        """Delay every answer by `seconds` (0 ends it) — a LibreTranslate busy on a CPU."""
        with self._lock:
            self._delay = seconds

    def down(self) -> None:
        """Answer everything with 503 from "the reverse proxy" until `heal()`."""
        with self._lock:
            self._down = True

    def heal(self) -> None:
        """End `down()`, `hang()` and pending `fail_next()`; hanging answers are sent at once."""
        with self._lock:
            self._down = False
            self._delay = 0.0
            self._failures.clear()
            released, self._release = self._release, threading.Event()
        released.set()

    # -- serving (called by the handler threads) ---------------------------------------------------

    def _handle(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, str, str]:
        """(status, content type, body) for one request; records it."""
        with self._lock:
            delay, release, down = self._delay, self._release, self._down
            failure = self._failures.pop(0) if self._failures and not down else None
        if delay:
            release.wait(delay)
        if down:
            status, content_type, body = 503, "text/html", _PROXY_PAGE
        elif failure is not None:
            status, message = failure
            status, content_type, body = (
                status,
                "application/json",
                _json({"error": message or _DEFAULT_ERRORS.get(status, HTTPStatus(status).phrase)}),
            )
        else:
            try:
                status, content_type, body = 200, "application/json", _json(self._route(method, path, params))
            except _ApiError as exc:
                status, content_type, body = exc.status, "application/json", _json({"error": exc.message})
        with self._lock:
            self._requests.append(LibreRequest(method, path, params, status, time.monotonic()))
        return status, content_type, body

    def _route(self, method: str, path: str, params: dict[str, Any]) -> Any:
        if path == "/translate" and method == "POST":
            return self._translate(params)
        if path == "/languages" and method == "GET":
            return [
                {"code": code, "name": name, "targets": list(LANGUAGES)} for code, name in LANGUAGES.items()
            ]
        if path in ("/translate", "/languages"):
            raise _ApiError(405, "Method Not Allowed")
        raise _ApiError(404, "Not Found")

    def _translate(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.api_key is not None and params.get("api_key") != self.api_key:
            raise _ApiError(403, "Invalid API key")
        q, source, target = params.get("q"), params.get("source"), params.get("target")
        fmt = params.get("format") or "text"
        for name, value in (("q", q), ("source", source), ("target", target)):
            if not value:
                raise _ApiError(400, f"Invalid request: missing {name} parameter")
        raw_texts: list[Any] = q if isinstance(q, list) else [q]
        texts = [t for t in raw_texts if isinstance(t, str)]
        if len(texts) != len(raw_texts) or not isinstance(source, str) or not isinstance(target, str):
            raise _ApiError(400, "Invalid request")
        size = sum(len(t) for t in texts)
        if size > self.char_limit:
            raise _ApiError(400, f"Invalid request: request ({size}) exceeds text limit ({self.char_limit})")
        if source != "auto" and source not in LANGUAGES:
            raise _ApiError(400, f"{source} is not supported")
        if target not in LANGUAGES:
            raise _ApiError(400, f"{target} is not supported")
        if fmt not in ("text", "html"):
            raise _ApiError(400, f"{fmt} format is not supported")
        translated = [self._one(t, source, target) for t in texts]
        answer: dict[str, Any] = {"translatedText": translated if isinstance(q, list) else translated[0]}
        if source == "auto":
            detected = [{"confidence": 90.0, "language": detect(t)} for t in texts]
            answer["detectedLanguage"] = detected if isinstance(q, list) else detected[0]
        return answer

    def _one(self, text: str, source: str, target: str) -> str:
        language = detect(text) if source == "auto" else source
        for key in ((source, target, text), (language, target, text)):
            if key in self.phrasebook:
                return self.phrasebook[key]
        if language == target:
            return text
        return fallback(text, source, target)


class _Handler(BaseHTTPRequestHandler):
    owner: FakeLibreTranslate
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx's connection pool expects of a real server
    server_version = "FakeLibreTranslate/1.0"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            params = _params(url.query, self.headers.get("Content-Type", ""), raw)
        except ValueError:
            status, content_type, body = 400, "application/json", _json({"error": "Invalid request"})
        else:
            status, content_type, body = self.owner._handle(method, url.path.rstrip("/") or "/", params)
        data = body.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test); nothing left to tell it

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `requests` instead of a log on stderr."""


def _params(query: str, content_type: str, raw: bytes) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    if not raw:
        return params
    if content_type.split(";")[0].strip() == "application/json":
        body = json.loads(raw.decode("utf-8"))
        if not isinstance(body, dict):
            raise ValueError("a JSON request must be an object")
        params.update(body)
    else:  # LibreTranslate's forms: the first value of each field wins, as with Flask's .get()
        for name, value in parse_qsl(raw.decode("utf-8"), keep_blank_values=True):
            params.setdefault(name, value)
    return params


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake LibreTranslate for demos of the console.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--api-key", default=None, help="require this API key")
    args = parser.parse_args(argv)
    with FakeLibreTranslate(api_key=args.api_key, host=args.host, port=args.port) as fake:
        print(f"fake LibreTranslate at {fake.url} (set LIBRETRANSLATE_URL={fake.url}); Ctrl-C stops it")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
