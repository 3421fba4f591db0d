"""/mydata: everything Lotse stores about a user, as a text they can read in the chat and keep.

The export is a right of the user (Art. 15 GDPR), so it is written for them rather than for a
machine: in their language, with local times, and with the words a person uses ("you", "Lotse",
"a caseworker") instead of column names. It lists what storage holds, not what the dialogue
remembers, so that nothing stored is missing from it. Long exports are split into several
messages by the channel's sender, like any long answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from bot.i18n.catalogs import Translator
from bot.i18n.languages import LANGUAGES, isolate_ltr
from bot.knowledge.content import Content


@dataclass(frozen=True)
class StoredMessage:
    direction: str  # in | out
    kind: str  # text, photo, ... for the user; "staff" for a caseworker's reply
    text: str
    created_at: dt.datetime  # UTC


@dataclass(frozen=True)
class StoredHandover:
    """A handover to a person; it exists only because the user agreed to share the chat."""

    team_id: str | None
    reason: str
    status: str  # waiting | active | closed
    created_at: dt.datetime
    closed_at: dt.datetime | None


@dataclass(frozen=True)
class StoredConversation:
    language: str | None
    town: str | None
    created_at: dt.datetime
    messages: list[StoredMessage] = field(default_factory=list)
    handovers: list[StoredHandover] = field(default_factory=list)


@dataclass(frozen=True)
class StoredUser:
    channel: str
    language: str | None
    created_at: dt.datetime
    last_seen_at: dt.datetime
    conversations: list[StoredConversation] = field(default_factory=list)


def export_text(user: StoredUser, content: Content, tr: Translator) -> str:
    """The export as plain text (no markup: channels send texts without a parse mode)."""
    _ = tr._
    zone = ZoneInfo(content.region.timezone)
    locale = LANGUAGES[tr.language].babel_locale if tr.language in LANGUAGES else "de_DE"

    def when(moment: dt.datetime) -> str:
        return isolate_ltr(str(format_datetime(moment.astimezone(zone), "short", locale=locale)), tr.language)

    reasons = {
        "user_request": _("Sie wollten mit einem Menschen sprechen"),
        "emergency": _("Notfall"),
        "deadline": _("Frist (abgelehnter Asylantrag)"),
        "misunderstanding": _("Lotse hat Sie mehrmals nicht verstanden"),
    }
    statuses = {
        "waiting": _("wartet auf eine Beraterin oder einen Berater"),
        "active": _("in Bearbeitung"),
        "closed": _("abgeschlossen"),
    }
    lines = [
        _("Kanal: {channel}").format(channel=user.channel),
        _("Erster Kontakt: {time}").format(time=when(user.created_at)),
        _("Zuletzt geschrieben: {time}").format(time=when(user.last_seen_at)),
    ]
    for conversation in user.conversations:
        town = content.towns.get(conversation.town) if conversation.town else None
        language = LANGUAGES.get(conversation.language or "")
        lines += [
            "",
            _("Gespräch seit {time}").format(time=when(conversation.created_at)),
            _("Sprache: {language}").format(language=language.native_name if language else "–"),
            _("Ort: {town}").format(town=town.name if town else "–"),
        ]
        if conversation.handovers:
            lines.append(_("Einwilligungen und Weitergaben an Beratung:"))
        for handover in conversation.handovers:
            team = content.teams.get(handover.team_id) if handover.team_id else None
            lines.append(
                "– "
                + _(
                    "{time}: Sie haben zugestimmt, dass {team} Ihr Gespräch liest und Ihnen antwortet."
                ).format(
                    time=when(handover.created_at), team=team.name if team else _("eine Beratungsstelle")
                )
            )
            lines.append(
                "  "
                + _("Grund: {reason}. Stand: {status}.").format(
                    reason=reasons.get(handover.reason, handover.reason),
                    status=statuses.get(handover.status, handover.status),
                )
            )
            if handover.closed_at is not None:
                lines.append("  " + _("Beendet: {time}").format(time=when(handover.closed_at)))
        lines.append(_("Nachrichten ({count}):").format(count=len(conversation.messages)))
        for message in conversation.messages:
            if message.direction == "in":
                who = _("Sie")
            elif message.kind == "staff":
                who = _("Beratung")
            else:
                who = "Lotse"
            text = message.text if message.text or message.kind == "text" else f"[{message.kind}]"
            lines.append(f"{when(message.created_at)} {who}: {text}")
    return "\n".join(lines)
