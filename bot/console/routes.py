"""The console's web pages: login, logout, the start page and one's own password (Starlette, server-rendered).

Every state-changing request is a POST that carries the session's CSRF token in a hidden field
(or the `X-CSRF-Token` header); the login form, which has no session yet, carries an HMAC of a
random nonce that sits in its own cookie (a signed double submit), so a foreign site cannot log a
caseworker into an account of its choosing. Cookies are HttpOnly and SameSite=Strict, and every
console page forbids framing, caching and foreign scripts.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from bot.console.accounts import MIN_PASSWORD_LENGTH, ROLES, Accounts, Session
from bot.console.cases import case_routes
from bot.console.editor_pages import editor_routes
from bot.console.errors import AccountLocked, InvalidAccount, LoginFailed
from bot.console.forms import read_form
from bot.console.present import install as install_presentation
from bot.console.staff_pages import staff_routes
from bot.console.stats_pages import stats_routes
from bot.console.wording import LANGUAGE_COOKIE, LANGUAGES
from bot.handover.desk import Desk

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
SESSION_COOKIE = "lotse_session"
LOGIN_COOKIE = "lotse_login"
PREFIX = "/console"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
ROLE_NAMES = {
    "caseworker": "Fallbearbeitung",
    "lead": "Teamleitung",
    "editor": "Redaktion",
    "admin": "Verwaltung",
}

PASSWORD_REFUSALS = {
    "repeat": "Die beiden neuen Passwörter stimmen nicht überein.",
    "current": "Das bisherige Passwort ist falsch.",
    "locked": "Zu viele Fehlversuche: Das Konto ist vorübergehend gesperrt. Bitte versuchen Sie es in 15 Minuten wieder.",
    "rules": "Das neue Passwort muss mindestens 12 Zeichen haben und sich vom bisherigen unterscheiden.",
}

Handler = Callable[[Request, Session], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def _secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def _set_cookie(request: Request, response: Response, name: str, value: str, path: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=path, secure=_https(request), httponly=True, samesite="strict"
    )


def _forbidden(templates: Jinja2Templates, request: Request, message: str) -> Response:
    return _secure(
        templates.TemplateResponse(
            request, "error.html", {"message": message, "session": None}, status_code=403
        )
    )


def console_routes(
    accounts: Accounts,
    desk: Desk | None = None,
    *,
    secret: bytes | None = None,
    locales_dir: Path | None = None,
) -> list[BaseRoute]:
    """The console's routes under `/console`; `secret` keys the login form's CSRF token.

    `lotse serve` passes a key derived from the installation's secret, so that every worker behind
    one address accepts a login form any of them handed out. Without a secret a random one per
    process is used (enough for a single process in tests): a login form opened before a restart
    then has to be reloaded. The editors' pages need the desk (live content, the
    database) and `locales_dir` (the catalogs, read at each request).
    """
    editor_pages = desk is not None and locales_dir is not None
    templates = Jinja2Templates(directory=str(TEMPLATES))
    install_presentation(templates)
    key = secret or secrets.token_bytes(32)

    def login_token(nonce: str) -> str:
        return hmac.new(key, nonce.encode("utf-8"), hashlib.sha256).hexdigest()

    def require(*roles: str) -> Callable[[Handler], Endpoint]:
        """Guard a page: a live session with one of `roles`, and on POST a valid CSRF token.

        Without a session the browser is sent to the login page; with the wrong role or a missing
        or wrong CSRF token the answer is 403.
        """
        allowed = frozenset(roles or ROLES)

        def wrap(handler: Handler) -> Endpoint:
            @functools.wraps(handler)
            async def endpoint(request: Request) -> Response:
                session = await accounts.session(request.cookies.get(SESSION_COOKIE))
                if session is None:
                    return _secure(RedirectResponse(f"{PREFIX}/login", status_code=303))
                if request.method == "POST":
                    sent = request.headers.get("x-csrf-token") or (await read_form(request)).get("csrf", "")
                    if not hmac.compare_digest(sent.encode("utf-8"), session.csrf_token.encode("utf-8")):
                        return _forbidden(
                            templates, request, "Die Anfrage war ungültig. Bitte laden Sie die Seite neu."
                        )
                if session.staff.role not in allowed:
                    return _forbidden(templates, request, "Für diese Seite fehlt Ihnen die Berechtigung.")
                return _secure(await handler(request, session))

            return endpoint

        return wrap

    def login_page(
        request: Request, error: str | None = None, username: str = "", status: int = 200
    ) -> Response:
        nonce = secrets.token_urlsafe(32)
        response = templates.TemplateResponse(
            request,
            "login.html",
            {"csrf": login_token(nonce), "error": error, "username": username, "session": None},
            status_code=status,
        )
        _set_cookie(request, response, LOGIN_COOKIE, nonce, f"{PREFIX}/login", 3600)
        return _secure(response)

    async def login(request: Request) -> Response:
        if request.method == "GET":
            if await accounts.session(request.cookies.get(SESSION_COOKIE)) is not None:
                return _secure(RedirectResponse(f"{PREFIX}/", status_code=303))
            return login_page(request)
        form = await read_form(request)
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not nonce or not hmac.compare_digest(login_token(nonce), form.get("csrf", "")):
            return _forbidden(
                templates, request, "Das Anmeldeformular ist abgelaufen. Bitte laden Sie die Seite neu."
            )
        username = form.get("username", "")[:64]
        try:
            account = await accounts.authenticate(username, form.get("password", ""))
        except LoginFailed:
            # one message for wrong password, unknown user, disabled and locked: no hint which usernames exist
            return login_page(
                request,
                "Anmeldung fehlgeschlagen. Bitte prüfen Sie Benutzername und Passwort. "
                "Nach fünf Fehlversuchen wird das Konto für 15 Minuten gesperrt.",
                username,
                401,
            )
        old = request.cookies.get(SESSION_COOKIE)
        if old:
            await accounts.end_session(old)  # a fresh token at every login: no session fixation
        token, _session = await accounts.create_session(account.id)
        response = RedirectResponse(f"{PREFIX}/", status_code=303)
        _set_cookie(
            request, response, SESSION_COOKIE, token, PREFIX, int(accounts.session_lifetime.total_seconds())
        )
        response.delete_cookie(LOGIN_COOKIE, path=f"{PREFIX}/login")
        return _secure(response)

    @require(*ROLES)
    async def logout(request: Request, _session: Session) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await accounts.end_session(token)
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE, path=PREFIX, secure=_https(request), httponly=True, samesite="strict"
        )
        return response

    @require(*ROLES)
    async def start(request: Request, session: Session) -> Response:
        """Each role's own first page: the queue for casework, the accounts for admins."""
        if desk is not None and session.staff.role in {"caseworker", "lead"}:
            return RedirectResponse(f"{PREFIX}/queue", status_code=303)
        if desk is not None and session.staff.role == "admin":
            return RedirectResponse(f"{PREFIX}/staff", status_code=303)
        return templates.TemplateResponse(
            request,
            "start.html",
            {
                "session": session,
                "role_name": ROLE_NAMES[session.staff.role],
                "editor_pages": editor_pages,
            },
        )

    @require(*ROLES)
    async def password(request: Request, session: Session) -> Response:
        """Change one's own password; on success the browser gets a new session, every other one ends."""

        def page(error: str | None = None, status: int = 200) -> Response:
            return templates.TemplateResponse(
                request,
                "password.html",
                {
                    "session": session,
                    "error": error,
                    "done": request.method == "GET" and request.query_params.get("done") == "1",
                    "min_length": MIN_PASSWORD_LENGTH,
                },
                status_code=status,
            )

        if request.method == "GET":
            return page()
        form = await read_form(request)
        new = form.get("new", "")
        if new != form.get("repeat", ""):
            return page(PASSWORD_REFUSALS["repeat"], 400)
        try:
            token, _fresh = await accounts.change_password(
                session.staff.username, form.get("current", ""), new
            )
        except AccountLocked:
            return page(PASSWORD_REFUSALS["locked"], 400)
        except LoginFailed:
            return page(PASSWORD_REFUSALS["current"], 400)
        except InvalidAccount:
            return page(PASSWORD_REFUSALS["rules"], 400)
        response = RedirectResponse(f"{PREFIX}/password?done=1", status_code=303)
        _set_cookie(
            request, response, SESSION_COOKIE, token, PREFIX, int(accounts.session_lifetime.total_seconds())
        )
        return response

    async def language(request: Request) -> Response:
        """Switch the console between German and English: a link that sets a cookie, nothing more."""
        chosen = request.query_params.get("lang", "de")
        target = request.query_params.get("next", f"{PREFIX}/")
        if not target.startswith(f"{PREFIX}/") or "//" in target or "\\" in target:
            target = f"{PREFIX}/"
        response = RedirectResponse(target, status_code=303)
        if chosen in LANGUAGES:
            _set_cookie(request, response, LANGUAGE_COOKIE, chosen, PREFIX, 365 * 24 * 3600)
        return _secure(response)

    async def bare(_request: Request) -> Response:
        return _secure(RedirectResponse(f"{PREFIX}/", status_code=307))

    templates.env.globals["role_names"] = ROLE_NAMES
    routes: list[BaseRoute] = [
        Route(PREFIX, bare),
        Route(f"{PREFIX}/", start, methods=["GET"]),
        Route(f"{PREFIX}/login", login, methods=["GET", "POST"]),
        Route(f"{PREFIX}/logout", logout, methods=["POST"]),
        Route(f"{PREFIX}/password", password, methods=["GET", "POST"]),
        Route(f"{PREFIX}/language", language, methods=["GET"]),
    ]
    if desk is not None:
        routes.extend(case_routes(desk, templates, require))
        routes.extend(staff_routes(accounts, desk, templates, require))
        routes.extend(stats_routes(desk, templates, require, fallbacks_page=locales_dir is not None))
        if locales_dir is not None:
            routes.extend(editor_routes(desk, locales_dir, templates, require))
    return routes
