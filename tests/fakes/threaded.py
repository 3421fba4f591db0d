"""Running a fake platform server (Starlette on uvicorn) in a thread of its own.

The fakes must keep answering while the test's event loop is busy or blocked, and serve other
processes too, so each runs its own event loop in a daemon thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

import uvicorn
from starlette.types import ASGIApp

F = TypeVar("F", bound="ThreadedFake")


def serve_in_thread(
    app: ASGIApp, name: str, after: Callable[[], Awaitable[None]] | None = None
) -> tuple[uvicorn.Server, threading.Thread, str]:
    """Start `app` on a free port of 127.0.0.1; returns once it listens, with its base URL.

    `after` runs on the server's loop once it has stopped (e.g. to cancel work it scheduled).
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        log_config=None,  # leave the test process's logging configuration alone
        access_log=False,
        ws="none",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)

    def run() -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(server.serve())
            if after is not None:
                loop.run_until_complete(after())
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the {name} server did not start")
        time.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


class ThreadedFake:
    """Start, stop, `with` and waiting for a fake platform server whose Starlette app is `self._app`.

    Subclasses guard what they record with `self._cond` and notify it on every change. They may hook
    into the lifecycle: `_on_start` before serving, `_on_stop` before the server is told to exit,
    and `_after_serve` on the server's loop once it stopped.
    """

    _app: ASGIApp
    _cond: threading.Condition
    _thread_name = "fake"
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _base_url: str | None = None

    def start(self: F) -> F:
        """Start serving in a background thread; returns once the port is bound."""
        if self._server is None:
            self._on_start()
            self._server, self._thread, self._base_url = serve_in_thread(
                self._app, self._thread_name, after=self._after_serve
            )
        return self

    def stop(self) -> None:
        """Stop the server. Safe to call twice."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._on_stop()
        server.should_exit = True
        thread.join(timeout=10)
        self._server = self._thread = None
        self._base_url = None

    def __enter__(self: F) -> F:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The server root, e.g. "http://127.0.0.1:43123"."""
        if self._base_url is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        return self._base_url

    def wait_for(self: F, predicate: Callable[[F], bool], timeout: float = 10.0) -> bool:
        """Block this thread until `predicate(self)` holds; returns whether it did within `timeout`.

        Woken by every recorded change. Do not use it on an event loop that must keep running (e.g.
        one serving Lotse's webhook): use `await_for` there.
        """
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    async def await_for(self: F, predicate: Callable[[F], bool], timeout: float = 10.0) -> bool:
        """`wait_for` for async tests: polls every 10 ms without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                if predicate(self):
                    return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)

    def _on_start(self) -> None:
        return None

    def _on_stop(self) -> None:
        return None

    async def _after_serve(self) -> None:
        return None
