"""How the console shows times, deadlines, languages and labels, in German or English.

Times are shown in Europe/Berlin, the district's clock, whatever the server's time zone is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.templating import Jinja2Templates

from bot.console.wording import LANGUAGE_COOKIE, translate
from bot.handover.names import PRIORITY_NAMES, REASON_NAMES
from bot.handover.window import reply_window
from bot.i18n.languages import LANGUAGES

BERLIN = ZoneInfo("Europe/Berlin")
STATUS_NAMES = {"waiting": "wartet", "active": "in Bearbeitung", "closed": "abgeschlossen"}
CHANNEL_NAMES = {"telegram": "Telegram", "whatsapp": "WhatsApp", "web": "Web-Chat"}
LANGUAGE_NAMES = {
    "de": "Deutsch", "en": "Englisch", "ar": "Arabisch", "fa": "Persisch/Dari", "uk": "Ukrainisch",
    "ru": "Russisch", "tr": "Türkisch",
}  # fmt: skip
DELIVERY_NAMES = {
    "pending": "wird gesendet",
    "sent": "gesendet",
    "delivered": "zugestellt",
    "read": "gelesen",
    "failed": "nicht zugestellt",
}
ACTION_NAMES = {
    "read": "gelesen",
    "claim": "übernommen",
    "assign": "zugewiesen",
    "transfer": "weitergegeben",
    "reply": "geantwortet",
    "note": "Notiz geschrieben",
    "close": "abgeschlossen",
    "erased": "vom Nutzer gelöscht",
    "staff_add": "Konto angelegt",
    "staff_disable": "Konto gesperrt",
    "staff_enable": "Konto entsperrt",
    "staff_password": "Passwort neu gesetzt",
    "password_change": "Eigenes Passwort geändert",
}


def local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(BERLIN)


def clock_text(moment: dt.datetime | None) -> str:
    """'Sa 21.11. 18:05' in Berlin time."""
    if moment is None:
        return "–"
    shown = local(moment)
    weekday = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")[shown.weekday()]
    return f"{weekday} {shown:%d.%m. %H:%M}"


def duration_text(delta: dt.timedelta) -> str:
    """'3 Min', '2 Std 5 Min', '3 T 4 Std': short enough for a queue column."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} T {hours} Std"
    if hours:
        return f"{hours} Std {minutes} Min"
    return f"{minutes} Min"


def language_of(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE, "de")
    return "en" if chosen == "en" else "de"


def direction_of(language: str) -> str:
    spec = LANGUAGES.get(language)
    return spec.dir if spec is not None else "ltr"


def install(templates: Jinja2Templates) -> None:
    """Filters and names every console template can use; `t` follows the chosen console language."""

    def context(request: Request) -> dict[str, Any]:
        lang = language_of(request)
        return {"t": lambda text: translate(text, lang), "ui_lang": lang, "path": request.url.path}

    templates.context_processors.append(context)
    env = templates.env
    env.filters["clock"] = clock_text
    env.filters["duration"] = duration_text
    env.filters["dir"] = direction_of
    env.globals.update(
        priority_names=PRIORITY_NAMES,
        reason_names=REASON_NAMES,
        status_names=STATUS_NAMES,
        channel_names=CHANNEL_NAMES,
        language_names=LANGUAGE_NAMES,
        action_names=ACTION_NAMES,
        delivery_names=DELIVERY_NAMES,
        reply_window=reply_window,
    )
