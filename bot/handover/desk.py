"""The caseworkers' desk: what a person may do with a handover, and what the user is told.

Rules that the console must never get wrong live here rather than in its routes: a caseworker sees
only their own teams' chats (leads see all, editors and admins none); a claimed chat is not taken
by a second colleague unnoticed; every reply reaches the user in their language, or in German with
a note when the translation service is down; a closed chat is handed back to the bot with the
question whether it helped; and every read and write lands in the audit log.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.engine.engine import utcnow
from bot.engine.messages import Outbound, Template
from bot.engine.render import Renderer
from bot.handover import notices
from bot.handover.errors import CaseConflict, CaseNotFound, InvalidAction, NotAllowed
from bot.handover.sla import first_response_due
from bot.handover.window import ReplyWindow, reply_window
from bot.i18n.catalogs import Catalogs, Translator
from bot.i18n.languages import SOURCE_LANGUAGE
from bot.knowledge.content import Content
from bot.knowledge.schema import MessageTemplate
from bot.live.editions import Editions
from bot.storage.handovers import (
    AuditEntry,
    Case,
    FailedDelivery,
    Handovers,
    HandoverTransaction,
    Line,
    Note,
)
from bot.translation.errors import TranslationUnavailable

MAX_REPLY = 4000
MAX_NOTE = 4000
CASE_ROLES = frozenset({"caseworker", "lead"})
AUDIT_ROLES = frozenset({"lead", "admin"})
RECENTLY_CLOSED = dt.timedelta(days=1)


class Actor(Protocol):
    """A logged-in staff member (bot.console.accounts.Staff fits)."""

    @property
    def id(self) -> int: ...
    @property
    def username(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def teams(self) -> tuple[str, ...]: ...


class Translated(Protocol):
    @property
    def text(self) -> str: ...


class MachineTranslator(Protocol):
    async def translate(self, text: str, source: str | None, target: str) -> Translated: ...

    async def translate_many(
        self, texts: Sequence[str], source: str | None, target: str
    ) -> Sequence[Translated | None]: ...


@dataclass(frozen=True)
class Preview:
    """What a reply will look like for the user, before it is sent."""

    german: str
    text: str  # in the user's language; the German itself when no translation is available
    machine: bool  # machine-translated (marked as such for the user)
    translated: bool  # False: the translation service failed, the German goes out with a note
    problem: str | None = None


@dataclass(frozen=True)
class Canned:
    id: str
    title: str
    german: str
    text: str  # in the user's language, from the translators' catalog
    reviewed: bool
    translated: bool  # False: the catalog has no translation yet, `text` is the German


@dataclass(frozen=True)
class ReplyRoute:
    """How a reply would reach the user now: as free text, inside an approved template, or not at all."""

    mode: str  # free | template | blocked
    window: ReplyWindow | None  # None: the channel has no window
    template: MessageTemplate | None = None
    reason: str | None = None  # why not as free text, for the console


@dataclass
class CaseView:
    case: Case
    lines: list[Line]
    notes: list[Note]
    translation_problem: str | None = None
    colleagues: list[tuple[int, str]] = field(default_factory=list)
    canned: list[Canned] = field(default_factory=list)
    earlier: list[Case] = field(default_factory=list)
    route: ReplyRoute | None = None
    failed: list[FailedDelivery] = field(default_factory=list)


class Desk:
    def __init__(
        self,
        store: Handovers,
        editions: Editions,
        translator: MachineTranslator,
        notify: Callable[[str, str], None] = lambda channel, chat: None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.store = store
        self.editions = editions  # read at each use, so the console follows editors' changes
        self.translator = translator
        self.notify = notify  # wakes the sender and the web chat's long poll after a commit
        self.clock = clock

    @property
    def content(self) -> Content:
        return self.editions.content

    @property
    def catalogs(self) -> Catalogs:
        return self.editions.catalogs

    # ------------------------------------------------------------------ who may see what
    def visible_teams(self, actor: Actor) -> tuple[str, ...] | None:
        """The teams whose chats the actor may see; None means all."""
        if actor.role == "lead":
            return None
        if actor.role == "caseworker":
            return actor.teams
        return ()

    def may_see(self, actor: Actor, case: Case) -> bool:
        teams = self.visible_teams(actor)
        return teams is None or (case.team_id is not None and case.team_id in teams)

    def _require_case_role(self, actor: Actor) -> None:
        if actor.role not in CASE_ROLES:
            raise NotAllowed("Chats sehen nur Fallbearbeitung und Teamleitung.")

    def _seen_by(self, actor: Actor, case_id: int, case: Case | None) -> Case:
        """The case, if the actor may see it; a case of another team is "not found" like a missing one."""
        if case is None or not self.may_see(actor, case):
            raise CaseNotFound(f"Chat {case_id} gibt es nicht, oder er gehört nicht zu Ihren Teams.")
        return case

    async def _visible(self, actor: Actor, case_id: int) -> Case:
        self._require_case_role(actor)
        return self._seen_by(actor, case_id, await self.store.get(case_id))

    async def _locked(
        self, tx: HandoverTransaction, actor: Actor, case_id: int, open_only: bool = True
    ) -> Case:
        case = self._seen_by(actor, case_id, await tx.lock(case_id))
        if open_only and case.status == "closed":
            raise CaseConflict("Dieser Chat ist schon abgeschlossen.")
        return case

    async def _tell(
        self, tx: HandoverTransaction, case: Case, notice: Callable[[Translator], Outbound], now: dt.datetime
    ) -> None:
        """A notice to the user in their language; the console's transcript keeps its German.

        Not sent outside WhatsApp's window: the platform would refuse it, and a user who has been
        silent for a day learns what happened from the caseworker's next (template) reply.
        """
        if self.route(case, now).mode != "free":
            return
        message = notice(Translator(self.catalogs, case.language))
        german = notice(Translator(self.catalogs, SOURCE_LANGUAGE))
        buttons = [(b.title, b.payload) for b in message.buttons]
        await tx.add_reply(case, None, message.text, german.text, False, now, buttons)

    # ------------------------------------------------------------------ the reply window
    def route(self, case: Case, now: dt.datetime | None = None) -> ReplyRoute:
        """Whether a reply can go out as free text now, and if not, whether a template can carry it."""
        now = now or self.clock()
        window = reply_window(case.channel, case.last_inbound_at)
        if window is None or window.is_open(now):
            return ReplyRoute("free", window)
        zone = ZoneInfo(self.content.region.timezone)  # the district's clock, as caseworkers read it
        since = (
            "" if window.closes_at is None else f" seit {window.closes_at.astimezone(zone):%d.%m.%Y %H:%M}"
        )
        closed = (
            f"Das 24-Stunden-Fenster von WhatsApp ist{since} geschlossen: Die Person hat vor mehr als "
            "24 Stunden zuletzt geschrieben, und WhatsApp stellt freien Text dann nicht mehr zu."
        )
        template = self.content.templates.get("caseworker_reply")
        if template is None or case.language not in template.languages:
            return ReplyRoute(
                "blocked",
                window,
                reason=f"{closed} Für diese Sprache ist keine WhatsApp-Vorlage freigegeben "
                "(content/whatsapp.yml), deshalb kann Ihre Antwort nicht gesendet werden. "
                "Sobald die Person wieder schreibt, können Sie antworten.",
            )
        return ReplyRoute(
            "template",
            window,
            template,
            reason=f"{closed} Ihre Antwort geht deshalb in der freigegebenen Vorlage „{template.name}“ "
            f"hinaus (höchstens {template.max_parameter} Zeichen, ohne Absätze).",
        )

    def _templated(
        self, template: MessageTemplate, case: Case, body: str, german: str
    ) -> tuple[str, str, Template]:
        """The reply inside the template: what the user reads, its German, and what WhatsApp gets."""
        parameter = _one_line(body)
        if len(parameter) > template.max_parameter:
            raise InvalidAction(
                f"Außerhalb des 24-Stunden-Fensters passen höchstens {template.max_parameter} Zeichen "
                f"in die WhatsApp-Vorlage; Ihre Antwort hat {len(parameter)}. Bitte kürzen Sie sie."
            )
        context = f"template:{template.name}:text"
        entry = self.catalogs.lookup(case.language, template.text, context)
        wording = entry.text if entry is not None else template.text
        shown = wording.replace("{{1}}", parameter)
        german_shown = template.text.replace("{{1}}", _one_line(german))
        return shown, german_shown, Template(template.name, template.languages[case.language], (parameter,))

    # ------------------------------------------------------------------ reading
    async def queue(self, actor: Actor, team: str | None = None) -> list[Case]:
        self._require_case_role(actor)
        teams = self.visible_teams(actor)
        if team:
            if teams is not None and team not in teams:
                raise NotAllowed("Dieses Team gehört nicht zu Ihren Teams.")
            teams = (team,)
        return await self.store.queue(teams, closed_since=self.clock() - RECENTLY_CLOSED)

    async def open(self, actor: Actor, case_id: int, log_read: bool = True) -> CaseView:
        """The conversation view; its messages count as seen, and reading it is logged.

        `log_read=False` for the page shown again right after an action, which is logged itself.
        """
        case = await self._visible(actor, case_id)
        lines = await self.store.transcript(case.conversation_id, upto=case.last_message_id)
        lines, problem = await self._with_german(lines, case.language)
        now = self.clock()
        async with self.store.transaction() as tx:
            if lines and lines[-1].id > case.seen_message_id:
                await tx.update(case, seen_message_id=lines[-1].id)
            if log_read:
                await tx.audit(actor.id, actor.username, "read", case.id, None, now)
        return CaseView(
            case=case,
            lines=lines,
            notes=await self.store.notes(case.id),
            translation_problem=problem,
            colleagues=await self.store.colleagues(case.team_id),
            canned=self.canned(case.language),
            earlier=[c for c in await self.store.history(case.conversation_id) if c.id != case.id],
            route=self.route(case, now),
            failed=await self.store.failed_deliveries(case) if case.failed_deliveries else [],
        )

    async def new_lines(self, actor: Actor, case_id: int, after: int) -> tuple[Case, list[Line]]:
        """Messages after `after`, for the open conversation view to append without reloading."""
        case = await self._visible(actor, case_id)
        lines, _problem = await self._with_german(
            await self.store.transcript(case.conversation_id, after, upto=case.last_message_id), case.language
        )
        if lines and lines[-1].id > case.seen_message_id:
            async with self.store.transaction() as tx:
                await tx.update(case, seen_message_id=lines[-1].id)
        return case, lines

    async def _with_german(self, lines: list[Line], language: str) -> tuple[list[Line], str | None]:
        """Fill in the German of messages not translated yet, and keep it for next time."""
        # commands (/start ar) read the same in every language: no need to send them anywhere
        missing = [
            line for line in lines if line.german is None and line.text.strip() and line.text[0] != "/"
        ]
        if language == SOURCE_LANGUAGE or not missing:
            return lines, None
        results = await self.translator.translate_many(
            [line.text for line in missing], language, SOURCE_LANGUAGE
        )
        found = {
            line.id: result.text for line, result in zip(missing, results, strict=True) if result is not None
        }
        problem = None
        if len(found) < len(missing):
            problem = "Die maschinelle Übersetzung ist gerade nicht verfügbar. Sie sehen den Originaltext."
        if found:
            async with self.store.transaction() as tx:
                await tx.set_german(found)
        return [
            replace(line, german=found[line.id], german_machine=True) if line.id in found else line
            for line in lines
        ], problem

    def canned(self, language: str) -> list[Canned]:
        """The canned replies, each in German and in the catalog's translation for the user."""
        tr = Translator(self.catalogs, language)
        result = []
        for reply in self.content.canned.values():
            shown = self.content.canned_reply(reply.id, tr)
            result.append(
                Canned(
                    reply.id, reply.title, reply.text, shown.text, shown.reviewed, shown.language == language
                )
            )
        return result

    async def audit(self, actor: Actor, case_id: int | None = None) -> list[AuditEntry]:
        if actor.role not in AUDIT_ROLES:
            raise NotAllowed("Das Protokoll sehen nur Teamleitung und Verwaltung.")
        return await self.store.audit_entries(case_id)

    # ------------------------------------------------------------------ writing
    async def claim(self, actor: Actor, case_id: int) -> Case:
        """Take the chat over: from now on the caseworker answers and the bot keeps quiet."""
        self._require_case_role(actor)
        now = self.clock()
        async with self.store.transaction() as tx:
            case = await self._locked(tx, actor, case_id)
            if case.assignee_id == actor.id and case.status == "active":
                return case
            if case.status == "active" and case.assignee_id is not None:
                raise CaseConflict(
                    f"{case.assignee_name} bearbeitet diesen Chat schon. Sie können ihn sich zuweisen lassen."
                )
            await self._take(tx, case, actor.id, actor.display_name, now)
            await tx.audit(actor.id, actor.username, "claim", case.id, None, now)
        self.notify(case.channel, case.chat_id)
        return case

    async def _take(
        self, tx: HandoverTransaction, case: Case, staff_id: int, name: str, now: dt.datetime
    ) -> None:
        await tx.update(case, status="active", assignee_id=staff_id, claimed_at=now)
        await tx.set_conversation_status(case, "human", now)
        await self._tell(tx, case, lambda tr: notices.taken_over(tr, name), now)

    async def assign(self, actor: Actor, case_id: int, colleague_id: int) -> Case:
        self._require_case_role(actor)
        now = self.clock()
        async with self.store.transaction() as tx:
            case = await self._locked(tx, actor, case_id)
            names = dict(await self.store.colleagues(case.team_id))
            if colleague_id not in names:
                raise InvalidAction("Diese Person gehört nicht zum Team dieses Chats.")
            if case.assignee_id == colleague_id:
                return case
            await self._take(tx, case, colleague_id, names[colleague_id], now)
            await tx.add_note(case, actor.id, "assign", f"Zugewiesen an {names[colleague_id]}", now)
            await tx.audit(actor.id, actor.username, "assign", case.id, f"an {names[colleague_id]}", now)
        self.notify(case.channel, case.chat_id)
        return case

    async def transfer(self, actor: Actor, case_id: int, team_id: str, note: str) -> Case:
        """Pass the chat to another team, with a note saying why; it waits in their queue."""
        self._require_case_role(actor)
        team = self.content.teams.get(team_id)
        if team is None:
            raise InvalidAction("Dieses Team gibt es nicht.")
        note = note.strip()
        if not note:
            raise InvalidAction("Bitte schreiben Sie dazu, warum Sie den Chat weitergeben.")
        now = self.clock()
        async with self.store.transaction() as tx:
            case = await self._locked(tx, actor, case_id)
            if case.team_id == team_id:
                raise InvalidAction("Der Chat ist schon bei diesem Team.")
            due = first_response_due(self.content.calendar, team, now, case.priority)
            await tx.update(
                case, team_id=team_id, status="waiting", assignee_id=None, claimed_at=None, due_at=due
            )
            await tx.set_conversation_status(case, "waiting", now)
            await tx.add_note(case, actor.id, "transfer", f"An {team.name}: {note[:MAX_NOTE]}", now)
            await self._tell(
                tx, case, lambda tr: notices.passed_on(tr, Renderer(self.content, tr), team, now), now
            )
            await tx.audit(actor.id, actor.username, "transfer", case.id, f"an {team_id}", now)
        self.notify(case.channel, case.chat_id)
        return case

    async def preview(self, actor: Actor, case_id: int, german: str, canned_id: str | None = None) -> Preview:
        """The text the user will get: the catalog's translation of a canned reply, else the machine's."""
        case = await self._visible(actor, case_id)
        german = german.strip()[:MAX_REPLY]
        if canned_id:
            chosen = next((c for c in self.canned(case.language) if c.id == canned_id), None)
            if chosen is None:
                raise InvalidAction("Diesen Textbaustein gibt es nicht.")
            if chosen.translated:  # a translator's words beat the machine's
                return Preview(chosen.german, chosen.text, machine=not chosen.reviewed, translated=True)
            german = chosen.german
        if not german:
            raise InvalidAction("Bitte schreiben Sie zuerst eine Antwort.")
        if case.language == SOURCE_LANGUAGE:
            return Preview(german, german, machine=False, translated=True)
        try:
            translated = await self.translator.translate(german, SOURCE_LANGUAGE, case.language)
        except TranslationUnavailable as exc:
            return Preview(
                german,
                german,
                machine=False,
                translated=False,
                problem=f"Die maschinelle Übersetzung ist gerade nicht verfügbar ({exc}). "
                "Sie können die Antwort auf Deutsch senden; Lotse sagt dazu, warum.",
            )
        return Preview(german, translated.text, machine=True, translated=True)

    async def reply(
        self, actor: Actor, case_id: int, german: str, text: str, machine: bool, translated: bool = True
    ) -> Case:
        """Send what the caseworker saw and perhaps edited; a waiting chat is claimed by it."""
        self._require_case_role(actor)
        german, text = german.strip()[:MAX_REPLY], text.strip()[:MAX_REPLY]
        if not german and not text:
            raise InvalidAction("Bitte schreiben Sie zuerst eine Antwort.")
        now = self.clock()
        async with self.store.transaction() as tx:
            case = await self._locked(tx, actor, case_id)
            tr = Translator(self.catalogs, case.language)
            if case.assignee_id is not None and case.assignee_id != actor.id and case.status == "active":
                raise CaseConflict(
                    f"{case.assignee_name} bearbeitet diesen Chat. Bitte lassen Sie ihn sich zuweisen."
                )
            if case.status != "active" or case.assignee_id != actor.id:
                await tx.update(case, status="active", assignee_id=actor.id, claimed_at=now)
                await tx.set_conversation_status(case, "human", now)
                await tx.audit(actor.id, actor.username, "claim", case.id, "mit der ersten Antwort", now)
            body = text or german
            if not translated and case.language != SOURCE_LANGUAGE:
                body = f"{german}\n\n{notices.sent_in_german(tr)}"
            elif machine:
                body = f"{body}\n\n{notices.machine_translated(tr)}"
            route = self.route(case, now)
            if route.mode == "blocked":
                raise InvalidAction(route.reason or "Diese Antwort kann nicht gesendet werden.")
            template = None
            german_line = german or text
            if route.template is not None:
                body, german_line, template = self._templated(route.template, case, body, german_line)
            await tx.add_reply(case, actor.id, body, german_line, machine, now, template=template)
            if case.first_response_at is None:
                await tx.update(case, first_response_at=now)
            await tx.audit(actor.id, actor.username, "reply", case.id, f"{len(body)} Zeichen", now)
        self.notify(case.channel, case.chat_id)
        return case

    async def note(self, actor: Actor, case_id: int, text: str) -> None:
        """An internal note: for colleagues only, never sent to the user."""
        self._require_case_role(actor)
        text = text.strip()
        if not text:
            raise InvalidAction("Die Notiz ist leer.")
        now = self.clock()
        async with self.store.transaction() as tx:
            case = await self._locked(tx, actor, case_id, open_only=False)  # notes outlive the chat
            await tx.add_note(case, actor.id, "note", text[:MAX_NOTE], now)
            await tx.audit(actor.id, actor.username, "note", case.id, None, now)

    async def close(self, actor: Actor, case_id: int) -> Case:
        """Hand the chat back to the bot; the user is told, and asked whether it helped."""
        self._require_case_role(actor)
        now = self.clock()
        async with self.store.transaction() as tx:
            case = await self._locked(tx, actor, case_id)
            await tx.update(case, status="closed", closed_at=now, closed_by=actor.id)
            await tx.set_conversation_status(case, "bot", now)
            await self._tell(tx, case, notices.bot_is_back, now)
            await tx.end_transcript(case)  # what the user writes to the bot from now on stays private
            await tx.audit(actor.id, actor.username, "close", case.id, None, now)
        self.notify(case.channel, case.chat_id)
        return case


def _one_line(text: str) -> str:
    """WhatsApp refuses template values with line breaks, tabs or more than four spaces in a row."""
    return re.sub(r"\s+", " ", text).strip()
