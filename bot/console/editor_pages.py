"""The editors' pages: how far each translation is, what needs a translator, how an answer looks
to a refugee, and what refugees asked that Lotse did not understand.

Everything is read at each request, never when the routes are built: the catalogs from
`locales/` (twelve `.po` files take about 0.1 s, read in a worker thread so the server keeps
answering chats meanwhile), the content and translations of the preview from the live edition.
So a translator who saves a file sees the change on the next reload. Reading refugees' questions is
logged in the audit log, as reading a chat is; nothing else here touches personal data.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from bot.console.accounts import Session
from bot.console.similar import group_questions
from bot.engine.dialogue import INTENT_LABELS, MENU_INTENTS, Dialogue
from bot.engine.preview import MAX_STEPS, preview
from bot.handover.desk import Desk
from bot.i18n.catalogs import DOMAINS
from bot.i18n.coverage import STATES, CatalogEntry, catalog_entries, catalog_path, coverage
from bot.i18n.languages import LANGUAGES, SOURCE_LANGUAGE, TRANSLATED_LANGUAGES
from bot.knowledge.content import Content
from bot.storage.fallbacks import DEFAULT_DAYS, MAX_FALLBACKS, recent_fallbacks

Handler = Callable[[Request, Session], Awaitable[Response]]
Guard = Callable[..., Callable[[Handler], Callable[[Request], Awaitable[Response]]]]
PREFIX = "/console/editor"
EDITOR_ROLES = ("editor", "admin")
OPEN_STATES = ("stale", "machine", "unreviewed", "missing")  # what a translator has to look at
MAX_ENTRIES = 500  # per page; a fresh language has ~320 entries, so this shows every one of them
MAX_DAYS = 365
STATE_NAMES = {
    "reviewed": "geprüft",
    "unreviewed": "ungeprüft",
    "machine": "maschinell",
    "stale": "veraltet",
    "missing": "fehlt",
}
# The preview's list of answers, by the first part of the topic key; an unknown part is shown as is.
TOPIC_GROUPS = {
    "asylum": "Asylverfahren",
    "residence": "Aufenthaltspapiere",
    "kita": "Kita",
    "sports": "Sport und Schwimmen",
    "swimming": "Sport und Schwimmen",
    "counselling": "Beratung",
    "integration": "Beratung",
    "german": "Deutschkurse",
    "emergency": "Notfall",
    "privacy": "Datenschutz",
}
MENU_ENTRIES = (("cmd:menu", "Themenmenü"), ("intent:greet", "Begrüßung"), ("cmd:language", "Sprachwahl"))
_TOPIC_CONTEXT = re.compile(r"^topic:([^:]+):")
_WORDS = re.compile(r"(\s+)")


@dataclass(frozen=True)
class Choice:
    payload: str
    label: str


@dataclass(frozen=True)
class ChoiceGroup:
    label: str
    choices: tuple[Choice, ...]


@dataclass(frozen=True)
class EntryView:
    """One catalog entry as the list shows it: where it is, and for stale ones what changed."""

    entry: CatalogEntry
    where: str  # "locales/ar/LC_MESSAGES/content.po:123"
    topic: str | None  # the topic it belongs to, for a link to its preview
    before: tuple[tuple[str, str], ...] = ()  # the old German as (kind, words): same | gone
    after: tuple[tuple[str, str], ...] = ()  # the new German as (kind, words): same | new


def word_changes(old: str, new: str) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """Old and new German split into unchanged and changed words, for marking what a translator must redo."""
    a, b = _WORDS.split(old), _WORDS.split(new)
    before: list[tuple[str, str]] = []
    after: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            before.append(("same", "".join(a[i1:i2])))
            after.append(("same", "".join(b[j1:j2])))
            continue
        if i2 > i1:
            before.append(("gone", "".join(a[i1:i2])))
        if j2 > j1:
            after.append(("new", "".join(b[j1:j2])))
    return tuple(before), tuple(after)


def _where(entry: CatalogEntry, locales_dir: Path) -> str:
    try:
        shown = entry.path.relative_to(locales_dir.parent)
    except ValueError:
        shown = entry.path
    return f"{shown.as_posix()}:{entry.line}"


def _entry_view(entry: CatalogEntry, locales_dir: Path) -> EntryView:
    match = _TOPIC_CONTEXT.match(entry.context or "")
    topic = match.group(1) if match else None
    if entry.state == "stale" and entry.previous_source is not None:
        before, after = word_changes(entry.previous_source, entry.source)
        return EntryView(entry, _where(entry, locales_dir), topic, before, after)
    return EntryView(entry, _where(entry, locales_dir), topic)


def read_entries(
    locales_dir: Path, languages: Sequence[str], states: Sequence[str], domains: Sequence[str]
) -> list[EntryView]:
    """The entries in `states`, language by language, in file order (so a translator works down the file)."""
    found = []
    for language in languages:
        for domain in domains:
            for entry in catalog_entries(catalog_path(locales_dir, language, domain), language, domain):
                if entry.state in states:
                    found.append(_entry_view(entry, locales_dir))
    return found


def preview_choices(content: Content) -> list[ChoiceGroup]:
    """Every answer an editor can preview: the menu's intents, then every topic, grouped by subject."""
    intents = [*MENU_INTENTS, *(i for i in INTENT_LABELS if i not in MENU_INTENTS)]
    groups = [
        ChoiceGroup(
            "Menü",
            (
                *(Choice(payload, label) for payload, label in MENU_ENTRIES),
                *(Choice(f"intent:{i}", INTENT_LABELS[i]) for i in intents),
            ),
        )
    ]
    by_subject: dict[str, list[Choice]] = {}
    for key, topic in content.topics.items():
        subject = key.split(".")[0]
        label = TOPIC_GROUPS.get(subject, subject)
        by_subject.setdefault(label, []).append(Choice(f"topic:{key}", f"{topic.title} ({key})"))
    groups.extend(ChoiceGroup(label, tuple(choices)) for label, choices in by_subject.items())
    return groups


def preview_url(language: str, town: str | None, steps: Sequence[str]) -> str:
    query: list[tuple[str, str]] = [("language", language)]
    if town:
        query.append(("town", town))
    query.extend(("step", step) for step in steps)
    return f"{PREFIX}/preview?{urlencode(query)}"


def _days(raw: str | None) -> int:
    """The period of the fallbacks page; anything but a plain number of days gives the default."""
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 3:
        return DEFAULT_DAYS
    return min(MAX_DAYS, max(1, int(raw)))


def editor_routes(
    desk: Desk, locales_dir: Path, templates: Jinja2Templates, require: Guard
) -> list[BaseRoute]:
    """The editors' pages under `/console/editor`, for editors and administrators."""
    # holds the editions, not one edition: each preview reads the current one
    dialogue = Dialogue(desk.editions)

    @require(*EDITOR_ROLES)
    async def overview(request: Request, session: Session) -> Response:
        rows = await run_in_threadpool(coverage, locales_dir)
        edition = desk.editions.current
        return templates.TemplateResponse(
            request,
            "editor.html",
            {
                "session": session,
                "totals": [row for row in rows if row.domain == "all"],
                "domains": [row for row in rows if row.domain != "all"],
                "states": STATES,
                "state_names": STATE_NAMES,
                "edition": edition,
            },
        )

    @require(*EDITOR_ROLES)
    async def entries(request: Request, session: Session) -> Response:
        params = request.query_params
        language = params.get("language")
        language = language if language in TRANSLATED_LANGUAGES else None
        state = params.get("state")
        state = state if state in STATES else None
        domain = params.get("domain")
        domain = domain if domain in DOMAINS else None
        found = await run_in_threadpool(
            read_entries,
            locales_dir,
            (language,) if language else TRANSLATED_LANGUAGES,
            (state,) if state else OPEN_STATES,
            (domain,) if domain else DOMAINS,
        )
        return templates.TemplateResponse(
            request,
            "editor_entries.html",
            {
                "session": session,
                "entries": found[:MAX_ENTRIES],
                "count": len(found),
                "language": language,
                "state": state,
                "domain": domain,
                "languages": TRANSLATED_LANGUAGES,
                "states": STATES,
                "domains": DOMAINS,
                "state_names": STATE_NAMES,
                "preview_url": preview_url,
            },
        )

    @require(*EDITOR_ROLES)
    async def preview_page(request: Request, session: Session) -> Response:
        # `language`, not `lang`: `lang` chooses the console's own language (bot.console.present)
        params = request.query_params
        content = desk.content
        language = params.get("language") or SOURCE_LANGUAGE
        language = language if language in LANGUAGES else SOURCE_LANGUAGE
        town = params.get("town") or None
        town = town if town in content.towns else None
        steps = params.getlist("step")[:MAX_STEPS]
        chosen = params.get("answer")
        if chosen and not steps:
            steps = [chosen]  # the form's list of answers starts a fresh chain
        exchanges = preview(dialogue, steps, language, town, desk.clock()) if steps else []
        return templates.TemplateResponse(
            request,
            "editor_preview.html",
            {
                "session": session,
                "language": language,
                "languages": LANGUAGES,
                "town": town,
                "towns": sorted(content.towns.values(), key=lambda t: t.name),
                "choices": preview_choices(content),
                "steps": steps,
                "exchanges": exchanges,
                "edition": desk.editions.current,
                "max_steps": MAX_STEPS,
                # a button of an earlier answer branches off there, as tapping it in the chat would
                "step_url": lambda index, payload: preview_url(
                    language, town, [*steps[: index + 1], payload]
                ),
            },
        )

    @require(*EDITOR_ROLES)
    async def fallbacks(request: Request, session: Session) -> Response:
        params = request.query_params
        days = _days(params.get("days"))
        language = params.get("language")
        language = language if language in LANGUAGES else None
        now = desk.clock()
        found = await recent_fallbacks(desk.store.engine, now - dt.timedelta(days=days), language)
        # CPU work (up to ~0.4 s for 2000 texts): in a thread, so that chats are answered meanwhile
        grouped = await run_in_threadpool(group_questions, found)
        async with desk.store.transaction() as tx:
            detail = f"Unverstandene Fragen: {days} Tage, {language or 'alle Sprachen'}, {len(found)} Texte"
            await tx.audit(session.staff.id, session.staff.username, "read", None, detail, now)
        return templates.TemplateResponse(
            request,
            "editor_fallbacks.html",
            {
                "session": session,
                "per_language": grouped,
                "count": len(found),
                "limit": MAX_FALLBACKS,
                "days": days,
                "language": language,
                "languages": LANGUAGES,
            },
        )

    return [
        Route(PREFIX, overview, methods=["GET"]),
        Route(f"{PREFIX}/entries", entries, methods=["GET"]),
        Route(f"{PREFIX}/preview", preview_page, methods=["GET"]),
        Route(f"{PREFIX}/fallbacks", fallbacks, methods=["GET"]),
    ]
