"""The administrators' page: personal accounts for the console.

A new account gets a random password shown once on the page (and never stored in clear), so no
administrator ever chooses or knows a colleague's lasting password; `lotse staff` on the command
line does the same for districts that manage accounts by script. A reset works the same way: a new
random password, shown once, and every session of the account ends, so whoever used the old one is
out. Disabling keeps the account's row, so the audit log still names who did what; enabling brings
it back. Administrators change their own password on the password page like everyone else, with
their current password, rather than by a reset here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from bot.console.accounts import ROLES, Accounts, Actor, Session, generate_password
from bot.console.errors import ConsoleError
from bot.console.forms import read_form
from bot.handover.desk import Desk

Handler = Callable[[Request, Session], Awaitable[Response]]
Guard = Callable[..., Callable[[Handler], Callable[[Request], Awaitable[Response]]]]
PREFIX = "/console"
NOTICES = {
    "disable": "Das Konto ist gesperrt; seine Anmeldungen sind beendet.",
    "enable": "Das Konto ist wieder aktiv.",
}
NOT_OWN_ACCOUNT = {
    "disable": "Das eigene Konto kann man nicht sperren.",
    "reset": "Das eigene Passwort ändern Sie unter „Passwort ändern“, mit dem bisherigen Passwort.",
}


def staff_routes(
    accounts: Accounts, desk: Desk, templates: Jinja2Templates, require: Guard
) -> list[BaseRoute]:
    async def render(
        request: Request,
        session: Session,
        *,
        created: tuple[str, str] | None = None,
        reset: tuple[str, str] | None = None,
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
                "reset": reset,
                "error": error,
                "done": NOTICES.get(request.query_params.get("done", "")),
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
                by=Actor.of(session.staff),
            )
        except ConsoleError as exc:
            return await render(request, session, error=str(exc), status=400)
        return await render(request, session, created=(account.username, password))

    @require("admin")
    async def disable(request: Request, session: Session) -> Response:
        username = (await read_form(request)).get("username", "")
        if username == session.staff.username:
            return await render(request, session, error=NOT_OWN_ACCOUNT["disable"], status=400)
        try:
            await accounts.disable(username, by=Actor.of(session.staff))
        except ConsoleError as exc:
            return await render(request, session, error=str(exc), status=400)
        return RedirectResponse(f"{PREFIX}/staff?done=disable", status_code=303)

    @require("admin")
    async def enable(request: Request, session: Session) -> Response:
        username = (await read_form(request)).get("username", "")
        try:
            await accounts.enable(username, by=Actor.of(session.staff))
        except ConsoleError as exc:
            return await render(request, session, error=str(exc), status=400)
        return RedirectResponse(f"{PREFIX}/staff?done=enable", status_code=303)

    @require("admin")
    async def reset(request: Request, session: Session) -> Response:
        """A new random password for someone else's account, shown once; their sessions end."""
        username = (await read_form(request)).get("username", "")
        if username == session.staff.username:
            return await render(request, session, error=NOT_OWN_ACCOUNT["reset"], status=400)
        password = generate_password()
        try:
            await accounts.set_password(username, password, by=Actor.of(session.staff))
        except ConsoleError as exc:
            return await render(request, session, error=str(exc), status=400)
        return await render(request, session, reset=(username, password))

    return [
        Route(f"{PREFIX}/staff", page, methods=["GET"]),
        Route(f"{PREFIX}/staff/add", add, methods=["POST"]),
        Route(f"{PREFIX}/staff/disable", disable, methods=["POST"]),
        Route(f"{PREFIX}/staff/enable", enable, methods=["POST"]),
        Route(f"{PREFIX}/staff/password", reset, methods=["POST"]),
    ]
