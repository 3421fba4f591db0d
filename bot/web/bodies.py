"""Reading a request body without letting its sender decide how much memory it takes.

Starlette's `request.body()` reads everything before anyone can look at the size, and a chunked
request has no `Content-Length` to refuse it by. Every route that takes a body from the internet
(the webhooks before their signature is checked, the web chat with a session anyone can invent,
the console's forms) reads it here: refused as soon as the declared or the received size passes
the route's limit.
"""

from __future__ import annotations

from starlette.requests import Request


async def read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to be longer than `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
