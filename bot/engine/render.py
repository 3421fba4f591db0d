"""Turning content items into reply text in the user's language.

German is the source; every content string goes through the catalogs with its context, and UI
glue through gettext. Phone numbers and addresses are isolated in right-to-left replies so that
digits and Latin names do not scramble the line.
"""

from __future__ import annotations

import datetime as dt

from babel.dates import get_day_names

from bot.i18n.catalogs import Translator
from bot.i18n.formatting import day_text, opening_text, time_text
from bot.i18n.languages import LANGUAGES, isolate_ltr
from bot.knowledge.content import Content
from bot.knowledge.hours import Calendar
from bot.knowledge.schema import WEEKDAYS, Contact, Place, Team, Topic


class Renderer:
    def __init__(self, content: Content, tr: Translator) -> None:
        self.content = content
        self.tr = tr
        self.lang = tr.language
        self.calendar: Calendar = content.calendar

    def title(self, topic: Topic) -> str:
        return self.tr.content(f"topic:{topic.key}:title", topic.title)

    def text(self, topic: Topic) -> str:
        return self.tr.content(f"topic:{topic.key}:text", topic.text).strip()

    def topic(self, key: str) -> str:
        topic = self.content.topic(key)
        return f"{self.title(topic)}\n\n{self.text(topic)}"

    def ltr(self, text: str) -> str:
        return isolate_ltr(text, self.lang)

    def weekly_hours(self, item: Contact) -> str:
        names = get_day_names("abbreviated", locale=LANGUAGES[self.lang].babel_locale)
        parts = []
        for index, day in enumerate(WEEKDAYS):
            ranges = item.hours.get(day)
            if ranges:
                times = ", ".join(self._range(r) for r in ranges)
                parts.append(f"{names[index]} {times}")
        return "; ".join(parts)

    def _range(self, text: str) -> str:
        start, end = text.strip().split("-")
        h1, m1 = (int(x) for x in start.split(":"))
        h2, m2 = (int(x) for x in end.split(":"))
        end_time = dt.time(0, 0) if (h2, m2) == (24, 0) else dt.time(h2, m2)
        return self.ltr(f"{time_text(dt.time(h1, m1), self.lang)}–{time_text(end_time, self.lang)}")

    def open_status(self, item: Contact, now: dt.datetime) -> str:
        """'Open now until 12:00' or 'Closed now. Next: Monday, 23 November, 09:00–12:00'."""
        _ = self.tr._
        if item.by_appointment == "only" or not item.hours:
            return _("Nur nach Terminvereinbarung.")
        current = self.calendar.current_opening(item, now)
        if current:
            line = _("Jetzt geöffnet, bis {time}.").format(time=self.ltr(time_text(current.end, self.lang)))
        else:
            reason = self.calendar.closure_on(item, self.calendar.localise(now).date())
            line = _("Heute geschlossen (Feiertag oder Schließtag).") if reason else _("Jetzt geschlossen.")
            upcoming = self.calendar.next_opening(item, now)
            if upcoming:
                line += " " + _("Nächste Öffnung: {when}.").format(
                    when=opening_text(upcoming.start, upcoming.end, self.lang)
                )
        if item.by_appointment is True:
            line += " " + _("Außerhalb dieser Zeiten nach Terminvereinbarung.")
        return line

    def contact_lines(self, item: Contact) -> list[str]:
        _ = self.tr._
        lines = []
        if item.address:
            lines.append(_("Adresse: {address}").format(address=self.ltr(item.address)))
        if item.phone:
            lines.append(_("Telefon: {phone}").format(phone=self.ltr(item.phone)))
        if item.email:
            lines.append(_("E-Mail: {email}").format(email=self.ltr(item.email)))
        if item.website:
            lines.append(self.ltr(item.website))
        if item.languages:
            names = ", ".join(LANGUAGES[c].native_name if c in LANGUAGES else c for c in item.languages)
            lines.append(_("Sprachen: {languages}").format(languages=names))
        return lines

    def team(self, team: Team, now: dt.datetime) -> str:
        _ = self.tr._
        lines = [team.name]
        if team.description:
            lines.append(self.tr.content(f"team:{team.id}:description", team.description))
        lines.extend(self.contact_lines(team))
        hours = self.weekly_hours(team)
        if hours:
            lines.append(_("Sprechzeiten: {hours}").format(hours=hours))
        lines.append(self.open_status(team, now))
        if team.example:
            lines.append(_("(Beispieldaten)"))
        return "\n".join(lines)

    def place(self, place: Place, now: dt.datetime, with_status: bool = True) -> str:
        _ = self.tr._
        town = self.content.towns[place.town].name
        lines = [f"– {place.name} ({town})"]
        if place.description:
            lines.append(self.tr.content(f"place:{place.id}:description", place.description))
        hours = self.weekly_hours(place)
        if hours:
            lines.append(_("Zeiten: {hours}").format(hours=hours))
        if with_status:
            lines.append(self.open_status(place, now))
        if place.cost:
            lines.append(
                _("Kosten: {cost}").format(cost=self.tr.content(f"place:{place.id}:cost", place.cost))
            )
        lines.extend(self.contact_lines(place))
        if place.example:
            lines.append(_("(Beispieldaten)"))
        return "\n".join(lines)

    def when(self, moment: dt.datetime) -> str:
        return f"{day_text(moment, self.lang)}, {time_text(moment, self.lang)}"
