"""The console's pages for handovers: the queue, one conversation, and what a caseworker does there.

Every action is an ordinary form POST that answers with a redirect (post/redirect/get), so the
console works without JavaScript and the back button never sends a reply twice. A small script
(`static/console.js`) only refreshes the queue and appends new messages while a page is open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from bot.console.accounts import Session
from bot.console.forms import read_form
from bot.handover.desk import RECENTLY_CLOSED, CaseView, Desk, Preview
from bot.handover.errors import CaseConflict, CaseNotFound, HandoverError, InvalidAction, NotAllowed
from bot.storage.erasures import ErasedCase, ErasedCases

Handler = Callable[[Request, Session], Awaitable[Response]]
Guard = Callable[..., Callable[[Handler], Callable[[Request], Awaitable[Response]]]]
PREFIX = "/console"
MAX_ID = 2**31 - 1  # ids are 32-bit integers in PostgreSQL: a larger number must not reach a query
STATUS = {CaseNotFound: 404, NotAllowed: 403, CaseConflict: 409, InvalidAction: 400}
NOTICES = {
    "claim": "Sie haben den Chat übernommen.",
    "assign": "Der Chat ist zugewiesen.",
    "transfer": "Der Chat ist an das andere Team weitergegeben.",
    "note": "Die Notiz ist gespeichert.",
    "reply": "Die Antwort ist gesendet.",
    "close": "Der Chat ist abgeschlossen. Lotse antwortet wieder.",
}


def _id(raw: str) -> int | None:
    """A row id from a URL; None for anything else, also for numbers too large for the id columns."""
    return int(raw) if raw.isascii() and raw.isdigit() and int(raw) <= MAX_ID else None


def _case_id(request: Request) -> int:
    found = _id(request.path_params["case_id"])
    return -1 if found is None else found


def case_routes(desk: Desk, templates: Jinja2Templates, require: Guard) -> list[BaseRoute]:
    erasures = ErasedCases(desk.store.engine)

    async def erased(session: Session, case_id: int) -> ErasedCase | None:
        """The marker of a case this person could see, if its user erased it (see bot.storage.erasures)."""
        gone = await erasures.get(case_id)
        teams = desk.visible_teams(session.staff)
        if gone is None or (teams is not None and gone.team_id not in teams):
            return None
        return gone

    async def missing(request: Request, session: Session, case_id: int, exc: HandoverError) -> Response:
        """A case that cannot be shown: "vom Nutzer gelöscht" (410) if its user erased it."""
        if isinstance(exc, CaseNotFound):
            gone = await erased(session, case_id)
            if gone is not None:
                return templates.TemplateResponse(
                    request,
                    "erased.html",
                    {"session": session, "gone": gone, "teams": desk.content.teams},
                    status_code=410,
                )
        return failure(request, session, exc)

    def after(case_id: int, done: str) -> Response:
        return RedirectResponse(
            f"{PREFIX}/cases/{case_id}?{urlencode({'done': done})}#antwort", status_code=303
        )

    async def render_case(
        request: Request,
        session: Session,
        case_id: int,
        *,
        preview: Preview | None = None,
        error: str | None = None,
        status: int = 200,
        draft: str = "",
    ) -> Response:
        try:
            first_look = request.method == "GET" and "done" not in request.query_params
            view: CaseView = await desk.open(session.staff, case_id, log_read=first_look)
        except HandoverError as exc:
            return await missing(request, session, case_id, exc)
        return templates.TemplateResponse(
            request,
            "case.html",
            {
                "session": session,
                "view": view,
                "case": view.case,
                "teams": desk.content.teams,
                "towns": desk.content.towns,
                "preview": preview,
                "error": error,
                "draft": draft,
                "now": desk.clock(),
                "done": NOTICES.get(request.query_params.get("done", "")),
            },
            status_code=status,
        )

    def failure(request: Request, session: Session, exc: HandoverError) -> Response:
        return templates.TemplateResponse(
            request,
            "error.html",
            {"session": session, "message": str(exc)},
            status_code=STATUS.get(type(exc), 400),
        )

    async def act(
        request: Request,
        session: Session,
        action: Callable[[int, dict[str, str]], Awaitable[object]],
        done: str,
    ) -> Response:
        """Run one action; on a refusal show the case again with the reason, keeping the draft."""
        case_id = _case_id(request)
        form = await read_form(request)
        try:
            await action(case_id, form)
        except (CaseNotFound, NotAllowed) as exc:
            return await missing(request, session, case_id, exc)
        except HandoverError as exc:
            return await render_case(
                request,
                session,
                case_id,
                error=str(exc),
                status=STATUS.get(type(exc), 400),
                draft=form.get("german", ""),
            )
        return after(case_id, done)

    @require("caseworker", "lead")
    async def queue_page(request: Request, session: Session) -> Response:
        return await queue_view(request, session, "queue.html")

    @require("caseworker", "lead")
    async def queue_rows(request: Request, session: Session) -> Response:
        return await queue_view(request, session, "queue_rows.html")

    async def queue_view(request: Request, session: Session, template: str) -> Response:
        team = request.query_params.get("team") or None
        try:
            cases = await desk.queue(session.staff, team)
        except HandoverError as exc:
            return failure(request, session, exc)
        visible = desk.visible_teams(session.staff)
        shown_teams = (team,) if team else visible
        gone = await erasures.recent(shown_teams, since=desk.clock() - RECENTLY_CLOSED)
        teams = {k: v for k, v in desk.content.teams.items() if visible is None or k in visible}
        return templates.TemplateResponse(
            request,
            template,
            {
                "session": session,
                "cases": cases,
                "erased": gone,
                "team": team,
                "teams": teams,
                "all_teams": desk.content.teams,
                "towns": desk.content.towns,
                "now": desk.clock(),
                "waiting": sum(1 for c in cases if c.status == "waiting"),
                "done": NOTICES.get(request.query_params.get("done", "")),
            },
        )

    @require("caseworker", "lead")
    async def case_page(request: Request, session: Session) -> Response:
        return await render_case(request, session, _case_id(request))

    @require("caseworker", "lead")
    async def case_lines(request: Request, session: Session) -> Response:
        after_id = _id(request.query_params.get("after", "0")) or 0
        try:
            case, lines = await desk.new_lines(session.staff, _case_id(request), after_id)
        except HandoverError as exc:
            return await missing(request, session, _case_id(request), exc)
        return templates.TemplateResponse(
            request,
            "case_lines.html",
            {"session": session, "case": case, "lines": lines},
        )

    @require("caseworker", "lead")
    async def claim(request: Request, session: Session) -> Response:
        return await act(request, session, lambda cid, form: desk.claim(session.staff, cid), "claim")

    @require("caseworker", "lead")
    async def assign(request: Request, session: Session) -> Response:
        async def run(cid: int, form: dict[str, str]) -> object:
            try:
                colleague = int(form.get("colleague", ""))
            except ValueError as exc:
                raise InvalidAction("Bitte wählen Sie eine Kollegin oder einen Kollegen.") from exc
            return await desk.assign(session.staff, cid, colleague)

        return await act(request, session, run, "assign")

    @require("caseworker", "lead")
    async def transfer(request: Request, session: Session) -> Response:
        response = await act(
            request,
            session,
            lambda cid, form: desk.transfer(session.staff, cid, form.get("team", ""), form.get("note", "")),
            "transfer",
        )
        visible = desk.visible_teams(session.staff)
        if (
            response.status_code == 303
            and visible is not None
            and (await read_form(request)).get("team") not in visible
        ):
            # the chat now belongs to a team the caseworker is not in: its page would answer 404
            return RedirectResponse(f"{PREFIX}/queue?{urlencode({'done': 'transfer'})}", status_code=303)
        return response

    @require("caseworker", "lead")
    async def note(request: Request, session: Session) -> Response:
        return await act(
            request, session, lambda cid, form: desk.note(session.staff, cid, form.get("note", "")), "note"
        )

    @require("caseworker", "lead")
    async def close(request: Request, session: Session) -> Response:
        return await act(request, session, lambda cid, form: desk.close(session.staff, cid), "close")

    @require("caseworker", "lead")
    async def preview(request: Request, session: Session) -> Response:
        case_id = _case_id(request)
        form = await read_form(request)
        try:
            shown = await desk.preview(
                session.staff, case_id, form.get("german", ""), form.get("canned") or None
            )
        except (CaseNotFound, NotAllowed) as exc:
            return await missing(request, session, case_id, exc)
        except HandoverError as exc:
            return await render_case(
                request, session, case_id, error=str(exc), status=400, draft=form.get("german", "")
            )
        return await render_case(request, session, case_id, preview=shown, draft=shown.german)

    @require("caseworker", "lead")
    async def reply(request: Request, session: Session) -> Response:
        return await act(
            request,
            session,
            lambda cid, form: desk.reply(
                session.staff,
                cid,
                form.get("german", ""),
                form.get("text", ""),
                machine=form.get("machine") == "1",
                translated=form.get("translated", "1") == "1",
            ),
            "reply",
        )

    @require("lead", "admin")
    async def audit(request: Request, session: Session) -> Response:
        case_id = _id(request.query_params.get("case", ""))
        entries = await desk.audit(session.staff, case_id)
        return templates.TemplateResponse(
            request, "audit.html", {"session": session, "entries": entries, "case_id": case_id}
        )

    return [
        Route(f"{PREFIX}/queue", queue_page, methods=["GET"]),
        Route(f"{PREFIX}/queue/rows", queue_rows, methods=["GET"]),
        Route(f"{PREFIX}/cases/{{case_id}}", case_page, methods=["GET"]),
        Route(f"{PREFIX}/cases/{{case_id}}/lines", case_lines, methods=["GET"]),
        Route(f"{PREFIX}/cases/{{case_id}}/claim", claim, methods=["POST"]),
        Route(f"{PREFIX}/cases/{{case_id}}/assign", assign, methods=["POST"]),
        Route(f"{PREFIX}/cases/{{case_id}}/transfer", transfer, methods=["POST"]),
        Route(f"{PREFIX}/cases/{{case_id}}/note", note, methods=["POST"]),
        Route(f"{PREFIX}/cases/{{case_id}}/preview", preview, methods=["POST"]),
        Route(f"{PREFIX}/cases/{{case_id}}/reply", reply, methods=["POST"]),
        Route(f"{PREFIX}/cases/{{case_id}}/close", close, methods=["POST"]),
        Route(f"{PREFIX}/audit", audit, methods=["GET"]),
    ]
