"""WhatsApp's forms and payloads without a server: buttons or lists within Meta's limits, every language.

The end-to-end tests (test_whatsapp.py) show the forms are accepted by a fake that enforces the
limits; these check the rules themselves over every menu Lotse sends, in all seven languages.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.channels.text import split_text
from bot.channels.whatsapp.channel import MORE_CHOICES, OPEN_LIST
from bot.channels.whatsapp.convert import read_notification
from bot.channels.whatsapp.layout import Labels, messages_for, shorten
from bot.engine.dialogue import INTENT_LABELS, MENU_INTENTS
from bot.engine.messages import Button
from bot.i18n.catalogs import Catalogs, Translator
from bot.i18n.languages import LANGUAGES
from bot.knowledge.content import Content
from tests.fakes.whatsapp_payloads import Webhooks

PHONE_NUMBER_ID = "1098765432"
USER = "4915112345678"


def labels(catalogs: Catalogs, language: str) -> Labels:
    _ = Translator(catalogs, language)._
    return Labels(_(OPEN_LIST), _(MORE_CHOICES))


def menu(catalogs: Catalogs, language: str) -> list[Button]:
    _ = Translator(catalogs, language)._
    return [Button(_(INTENT_LABELS[i]), f"intent:{i}") for i in MENU_INTENTS] + [
        Button(_("Sprache / Language"), "cmd:language")
    ]


def offered(messages: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    """(payload, title, description) of every choice, in order, checking Meta's limits on the way."""
    found = []
    for message in messages:
        if message["type"] != "interactive":
            continue
        interactive = message["interactive"]
        assert 0 < len(interactive["body"]["text"]) <= 1024
        if interactive["type"] == "button":
            buttons = interactive["action"]["buttons"]
            assert 1 <= len(buttons) <= 3
            for button in buttons:
                assert 0 < len(button["reply"]["title"]) <= 20
                found.append((button["reply"]["id"], button["reply"]["title"], None))
        else:
            assert 0 < len(interactive["action"]["button"]) <= 20
            rows = [row for section in interactive["action"]["sections"] for row in section["rows"]]
            assert 1 <= len(rows) <= 10
            for row in rows:
                assert 0 < len(row["title"]) <= 24 and len(row.get("description", "")) <= 72
                found.append((row["id"], row["title"], row.get("description")))
    return found


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_the_menu_fits_whatsapp_in_every_language(catalogs: Catalogs, language: str) -> None:
    buttons = menu(catalogs, language)
    sent = messages_for("Wobei kann ich helfen?", buttons, labels(catalogs, language))
    choices = offered(sent)
    assert [payload for payload, _, _ in choices] == [b.payload for b in buttons], (
        "every choice, once, in order"
    )
    assert sent[0]["interactive"]["type"] == "list" and len(sent) == 2, "ten rows, then the eleventh"
    assert sent[1]["interactive"]["body"]["text"] == Translator(catalogs, language)._(MORE_CHOICES)
    for (_, title, description), button in zip(choices, buttons, strict=True):
        full = " ".join(button.title.split())
        assert title == full or (title.endswith("…") and description == full), (title, full)


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_towns_fit_whatsapp_in_every_language(content: Content, catalogs: Catalogs, language: str) -> None:
    buttons = [Button(town.name, f"town:{town.id}") for town in content.towns.values()]
    choices = offered(messages_for("Wo wohnen Sie?", buttons, labels(catalogs, language)))
    assert sorted(payload for payload, _, _ in choices) == sorted(b.payload for b in buttons)


def test_short_choices_become_reply_buttons(catalogs: Catalogs) -> None:
    _ = Translator(catalogs, "ar")._
    yes_no = [Button(_("Ja, bitte"), "handover:yes"), Button(_("Nein, danke"), "handover:no")]
    [message] = messages_for("?", yes_no, labels(catalogs, "ar"))
    assert message["interactive"]["type"] == "button"
    assert offered([message]) == [
        ("handover:yes", _("Ja, bitte"), None),
        ("handover:no", _("Nein, danke"), None),
    ]


def test_a_long_title_is_cut_after_a_word_and_kept_whole_in_the_description() -> None:
    # a word boundary too early would leave too little: then the cut is inside the word
    assert shorten("Mein Integrationsmanagement und Beratung", 24) == "Mein Integrationsmanage…"
    assert shorten("Anhörung beim BAMF und Vorbereitung", 24) == "Anhörung beim BAMF und…"
    assert (
        shorten("Integrationsmanagementberatung", 24) == "Integrationsmanagementb…"
    )  # no word ends late enough
    assert shorten("  Kita-Platz  ", 24) == "Kita-Platz"
    [message] = messages_for(
        "?", [Button("Anhörung beim BAMF und Vorbereitung", "intent:x")], Labels("Wählen", "…")
    )
    [row] = message["interactive"]["action"]["sections"][0]["rows"]
    assert row == {
        "id": "intent:x",
        "title": "Anhörung beim BAMF und…",
        "description": "Anhörung beim BAMF und Vorbereitung",
    }


def test_a_long_text_with_buttons_leaves_the_buttons_a_text_whatsapp_accepts() -> None:
    text = "\n\n".join(f"Absatz {i}: " + "Ein Satz über die Kita-Anmeldung. " * 12 for i in range(8))
    parts = split_text(text, 4096, last_limit=1024)
    assert len(parts[-1]) <= 1024 and all(len(p) <= 4096 for p in parts)
    assert " ".join(" ".join(p.split()) for p in parts) == " ".join(text.split()), "nothing lost"


def test_webhook_payloads_become_the_engines_messages() -> None:
    hooks = Webhooks(PHONE_NUMBER_ID)
    photo = hooks.image(USER, caption="Was steht in diesem Brief?")
    voice = hooks.audio(USER, voice=True)
    music = hooks.audio(USER, voice=False)
    choice = hooks.list_reply(USER, "age:u3", "1 bis 2 Jahre")
    reaction = hooks.reaction(USER, "wamid.earlier", "👍")
    taken_back = hooks.reaction(USER, "wamid.earlier", "")
    location = hooks.location(USER, 48.49, 9.21)
    unsupported = hooks.unsupported(USER)
    notification = read_notification(
        hooks.batch(photo, voice, music, choice, reaction, taken_back, location, unsupported).payload,
        PHONE_NUMBER_ID,
    )
    got = [(r.inbound.kind, r.inbound.text, r.inbound.payload) for r in notification.received]
    assert got == [
        ("photo", "Was steht in diesem Brief?", None),
        ("voice", "", None),
        ("audio", "", None),
        ("text", "1 bis 2 Jahre", "age:u3"),
        ("reaction", "", None),
        ("location", "", None),
        ("unsupported", "", None),
    ], "a reaction taken back asks nothing"
    assert notification.received[0].external_id == photo.message_id
    assert all(
        r.inbound.language_hint is None and r.inbound.sent_at is not None for r in notification.received
    )


def test_receipts_and_foreign_or_broken_notifications() -> None:
    hooks = Webhooks(PHONE_NUMBER_ID)
    failed = read_notification(hooks.statuses(USER, "wamid.out", "failed").payload, PHONE_NUMBER_ID)
    [receipt] = failed.receipts
    assert (receipt.message_id, receipt.status, receipt.error_code) == ("wamid.out", "failed", 131047)
    other_number = read_notification(Webhooks("555").text(USER, "hallo").payload, PHONE_NUMBER_ID)
    assert other_number.received == [], "another number of the same Meta app is not Lotse's"
    for broken in (
        None,
        [],
        {"entry": "x"},
        {"entry": [{"changes": [{"field": "messages", "value": []}]}]},
        {"entry": [{"changes": [{"field": "messages", "value": {"messages": [{"from": 5}]}}]}]},
    ):
        assert read_notification(broken, PHONE_NUMBER_ID).received == []
