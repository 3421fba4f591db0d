"""The console as an ASGI app with browsers (httpx clients) logged into it, for the console tests."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from bot.console.accounts import Accounts, Staff
from bot.console.routes import STATIC, console_routes
from bot.handover.desk import Desk
from tests.test_console_accounts import FAST, PASSWORD, _login


class ConsoleApp:
    def __init__(self, database: AsyncEngine, desk: Desk, locales_dir: Path | None = None) -> None:
        self.accounts = Accounts(database, hasher=FAST)
        self.app = Starlette(
            routes=[
                *console_routes(self.accounts, desk, locales_dir=locales_dir),
                Mount("/static/console", StaticFiles(directory=str(STATIC))),
            ]
        )
        self.clients: list[httpx.AsyncClient] = []

    def client(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://testserver")
        self.clients.append(client)
        return client

    async def staff(self, role: str, *teams: str) -> Staff:
        name = f"{role}-{uuid.uuid4().hex[:8]}"
        return await self.accounts.create(name, PASSWORD, role, teams, display_name=f"Frau {name}")

    async def signed_in(self, role: str, *teams: str) -> tuple[httpx.AsyncClient, Staff]:
        """A new account of `role` and a client logged in with it."""
        staff = await self.staff(role, *teams)
        client = self.client()
        response = await _login(client, staff.username)
        assert response.status_code == 303, response.text
        return client, staff

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()
