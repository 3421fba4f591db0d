"""Running a fake platform server (Starlette on uvicorn) in a thread of its own.

The fakes must keep answering while the test's event loop is busy or blocked, and serve other
processes too, so each runs its own event loop in a daemon thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

import uvicorn
from starlette.types import ASGIApp


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
