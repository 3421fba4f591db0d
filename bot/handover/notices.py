"""What the user is told about their handover, in their language.

Shared by the dialogue (when the user asks for a person) and the caseworkers' desk (when a person
takes the chat, passes it on or closes it), so that the promise about when someone answers is
worded and computed the same way everywhere.
"""

from __future__ import annotations

import datetime as dt

from bot.engine.messages import Button, Outbound
from bot.engine.render import Renderer
from bot.i18n.catalogs import Translator
from bot.knowledge.schema import Team


def expected_answer(tr: Translator, renderer: Renderer, team: Team, now: dt.datetime) -> str:
    """Honest about when a person can answer: now, or the team's next opening in the user's locale."""
    _ = tr._
    if renderer.calendar.current_opening(team, now):
        return _("Das Team ist gerade im Dienst und meldet sich so bald wie möglich.")
    upcoming = renderer.calendar.next_opening(team, now)
    if upcoming is None:
        return _("Das Team meldet sich so bald wie möglich.")
    return _("Das Team ist gerade nicht im Dienst. Die nächste Sprechzeit beginnt {when}.").format(
        when=renderer.when(upcoming.start)
    )


def taken_over(tr: Translator, name: str) -> Outbound:
    return Outbound(
        tr._("{name} aus dem Integrationsmanagement ist jetzt für Sie da und antwortet Ihnen hier.").format(
            name=name
        )
    )


def passed_on(tr: Translator, renderer: Renderer, team: Team, now: dt.datetime) -> Outbound:
    first = tr._("Ihre Anfrage ist jetzt bei {team}.").format(team=team.name)
    return Outbound(first + " " + expected_answer(tr, renderer, team, now))


def bot_is_back(tr: Translator) -> Outbound:
    """Sent when a caseworker closes the chat: the assistant answers again, and did it help?"""
    _ = tr._
    return Outbound(
        _(
            "Das Gespräch mit dem Integrationsmanagement ist beendet. Ab jetzt antwortet Ihnen wieder Lotse, der digitale Assistent. Hat Ihnen das Gespräch geholfen?"
        ),
        (Button(_("Ja, es hat geholfen"), "feedback:helped"), Button(_("Nein"), "feedback:not_helped")),
    )


def machine_translated(tr: Translator) -> str:
    return tr._("(automatische Übersetzung)")


def sent_in_german(tr: Translator) -> str:
    return tr._(
        "(Diese Nachricht ist auf Deutsch, weil die automatische Übersetzung gerade nicht verfügbar ist.)"
    )
