"""Request bodies are read only up to a route's limit, whatever the client claims or sends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.web.bodies import read_body

LIMIT = 1000


async def _echo_size(request: Request) -> Response:
    body = await read_body(request, LIMIT)
    return Response(status_code=413) if body is None else Response(str(len(body)))


APP = Starlette(routes=[Route("/", _echo_size, methods=["POST"])])


async def _endless() -> AsyncIterator[bytes]:
    while True:
        yield b"x" * 100


async def test_an_endless_chunked_body_is_refused_once_it_passes_the_limit() -> None:
    """`request.body()` would wait for this body forever; the limit ends it after 1000 bytes."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://t") as client:
        response = await client.post("/", content=_endless())
    assert response.status_code == 413


async def test_bodies_within_the_limit_are_read_whole_and_declared_oversize_is_refused_unread() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://t") as client:
        assert (await client.post("/", content=b"y" * LIMIT)).text == str(LIMIT)
        lying = await client.post("/", content=b"", headers={"Content-Length": str(LIMIT + 1)})
    assert lying.status_code == 413
