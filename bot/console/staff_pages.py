"""The administrators' page: personal accounts for the console.

A new account gets a random password shown once on the page (and never stored in clear), so no
administrator ever chooses or knows a colleague's lasting password; `lotse staff` on the command
line does the same for districts that manage accounts by script. Disabling keeps the account's row,
so the audit log still names who did what.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from bot.console.accounts import ROLES, Accounts, Session, generate_password
from bot.console.errors import ConsoleError
from bot.console.forms import read_form
from bot.handover.desk import Desk

Handler = Callable[[Request, Session], Awaitable[Response]]
Guard = Callable[..., Callable[[Handler], Callable[[Request], Awaitable[Response]]]]
PREFIX = "/console"


def staff_routes(
    accounts: Accounts, desk: Desk, templates: Jinja2Templates, require: Guard
) -> list[BaseRoute]:
    async def render(
        request: Request,
        session: Session,
        *,
        created: tuple[str, str] | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        return templates.TemplateResponse(
            request,
            "staff.html",
            {
                "session": session,
                "accounts": await accounts.list(),
                "teams": desk.content.teams,
                "roles": ROLES,
                "created": created,
                "error": error,
                "done": request.query_params.get("done") == "disable",
            },
            status_code=status,
        )

    @require("admin")
    async def page(request: Request, session: Session) -> Response:
        return await render(request, session)

    @require("admin")
    async def add(request: Request, session: Session) -> Response:
        form = await read_form(request)
        teams = [t for t in form.get("teams", "").replace(",", " ").split() if t]
        password = generate_password()
        try:
            account = await accounts.create(
                form.get("username", ""),
                password,
                form.get("role", ""),
                teams,
                display_name=form.get("display_name") or None,
                known_teams=desk.content.teams,
            )
        except ConsoleError as exc:
            return await render(request, session, error=str(exc), status=400)
        async with desk.store.transaction() as tx:
            await tx.audit(
                session.staff.id,
                session.staff.username,
                "staff_add",
                None,
                f"{account.username} ({account.role})",
                desk.clock(),
            )
        return await render(request, session, created=(account.username, password))

    @require("admin")
    async def disable(request: Request, session: Session) -> Response:
        form = await read_form(request)
        username = form.get("username", "")
        if username == session.staff.username:
            return await render(
                request, session, error="Das eigene Konto kann man nicht sperren.", status=400
            )
        try:
            await accounts.disable(username)
        except ConsoleError as exc:
            return await render(request, session, error=str(exc), status=400)
        async with desk.store.transaction() as tx:
            await tx.audit(
                session.staff.id, session.staff.username, "staff_disable", None, username, desk.clock()
            )
        return RedirectResponse(f"{PREFIX}/staff?done=disable", status_code=303)

    return [
        Route(f"{PREFIX}/staff", page, methods=["GET"]),
        Route(f"{PREFIX}/staff/add", add, methods=["POST"]),
        Route(f"{PREFIX}/staff/disable", disable, methods=["POST"]),
    ]
