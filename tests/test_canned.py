"""Canned replies for caseworkers: shipped, translated into every language, errors with file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.i18n.catalogs import Catalogs, Translator
from bot.i18n.languages import TRANSLATED_LANGUAGES
from bot.knowledge.content import Content, load_content
from bot.knowledge.errors import ContentErrors
from tests.conftest import ROOT


def test_shipped_canned_replies_load_in_file_order(content: Content) -> None:
    ids = list(content.canned)
    assert len(ids) >= 8
    assert ids[0] == "greeting" and ids[-1] == "closing"
    assert {"asylum-rejected-deadline", "interpreter", "office-hours", "referral"} <= set(ids)
    for reply in content.canned.values():
        assert reply.source and reply.last_checked
        assert reply.text == reply.text.strip() and reply.title
    contexts = {s.context for s in content.strings}
    for reply_id in ids:
        assert {f"canned:{reply_id}:title", f"canned:{reply_id}:text"} <= contexts


def test_deadline_reply_says_what_the_topic_says(content: Content) -> None:
    text = content.canned["asylum-rejected-deadline"].text
    assert "2 Wochen" in text and "1 Woche" in text and "Rechtsbehelfsbelehrung" in text
    assert "asylum.rejected" in content.canned["asylum-rejected-deadline"].topics


@pytest.mark.parametrize("lang", TRANSLATED_LANGUAGES)
def test_every_canned_reply_is_translated(content: Content, catalogs: Catalogs, lang: str) -> None:
    for reply_id, reply in content.canned.items():
        shown = content.canned_reply(reply_id, Translator(catalogs, lang))
        assert shown.language == lang, f"{lang}: no current translation of canned reply {reply_id!r}"
        assert shown.title != reply.title, (lang, reply_id)
        assert shown.text and shown.text != reply.text, (lang, reply_id)


def test_arabic_reply_comes_from_the_catalog(content: Content, catalogs: Catalogs) -> None:
    reply = content.canned["closing"]
    entry = catalogs.lookup("ar", reply.text, "canned:closing:text")
    assert entry is not None
    tr = Translator(catalogs, "ar")
    shown = content.canned_reply("closing", tr)
    assert shown.text == entry.text.strip()
    assert shown.language == "ar"
    assert any("\u0600" <= ch <= "\u06ff" for ch in shown.text)
    assert shown.reviewed is entry.reviewed
    assert tr.unreviewed_used is (not entry.reviewed)


def test_german_and_missing_translations_give_the_german_source(content: Content) -> None:
    reply = content.canned["greeting"]
    german = content.canned_reply("greeting", Translator(Catalogs({}), "de"))
    assert (german.title, german.text, german.language, german.reviewed) == (
        reply.title,
        reply.text,
        "de",
        True,
    )
    untranslated = content.canned_reply("greeting", Translator(Catalogs({}), "ar"))
    assert untranslated.language == "de" and untranslated.text == reply.text


def _broken(tmp_path: Path, old: str, new: str) -> tuple[Path, list[str]]:
    root = tmp_path / "content"
    shutil.copytree(ROOT / "content", root)
    canned = root / "canned.yml"
    text = canned.read_text(encoding="utf-8")
    assert old in text
    canned.write_text(text.replace(old, new, 1), encoding="utf-8")
    return root, canned.read_text(encoding="utf-8").splitlines()


def _line_of(lines: list[str], start: str, after: int = 0) -> int:
    return next(i for i, line in enumerate(lines) if i >= after and line.strip().startswith(start)) + 1


def test_missing_text_names_file_and_line(tmp_path: Path) -> None:
    root, lines = _broken(tmp_path, "    text: |\n      Danke, jetzt", "    txt: |\n      Danke, jetzt")
    with pytest.raises(ContentErrors) as caught:
        load_content(root)
    errors = {(e.path, e.line, e.detail) for e in caught.value.errors}
    item = _line_of(lines, "- id: checking")
    assert ("content/canned.yml", item, "text: field required") in errors
    assert (
        "content/canned.yml",
        _line_of(lines, "txt:"),
        "txt: unknown field (check the spelling)",
    ) in errors


def test_duplicate_id_names_file_and_line(tmp_path: Path) -> None:
    root, lines = _broken(tmp_path, "- id: closing", "- id: greeting")
    with pytest.raises(ContentErrors) as caught:
        load_content(root)
    second = _line_of(lines, "- id: greeting", after=_line_of(lines, "- id: greeting"))
    assert [str(e) for e in caught.value.errors] == [
        f"content/canned.yml:{second}: canned reply id 'greeting' twice"
    ]


def test_unknown_topic_names_its_line(tmp_path: Path) -> None:
    root, lines = _broken(tmp_path, "topics: [counselling.hours]", "topics: [counselling.hourz]")
    with pytest.raises(ContentErrors) as caught:
        load_content(root)
    (error,) = caught.value.errors
    assert (error.line, error.detail) == (
        _line_of(lines, "topics: [counselling.hourz]"),
        "unknown topic 'counselling.hourz'",
    )


def test_placeholder_is_refused_with_its_line(tmp_path: Path) -> None:
    root, lines = _broken(tmp_path, "Bescheid und den Umschlag mit.", "Bescheid vom [Datum] mit.")
    with pytest.raises(ContentErrors) as caught:
        load_content(root)
    (error,) = caught.value.errors
    assert error.path == "content/canned.yml"
    assert error.line == _line_of(lines, "text: |", after=_line_of(lines, "- id: asylum-rejected-deadline"))
    assert "placeholder" in error.detail
