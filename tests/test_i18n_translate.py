"""The translators' catalog workflow through the real CLI: `lotse i18n translate` pre-fills missing
entries with machine drafts, a translator reviews them in any gettext tool, and `lotse i18n update`
keeps their work when the German changes.

Machine translation goes through Lotse's real LibreTranslate client to the fake LibreTranslate
server over HTTP, which answers `[de→en] <text>` for texts its phrasebook does not know. Each test
works on a copy of `locales/` (LOTSE_LOCALES_DIR), set up with plain Babel so that the set-up does
not depend on the code under test.
"""

from __future__ import annotations

import difflib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.pofile import read_po, write_po

from bot.cli import main
from bot.i18n.catalogs import Catalogs, Translator
from bot.i18n.coverage import CatalogEntry, catalog_entries, catalog_path
from bot.i18n.languages import TRANSLATED_LANGUAGES
from tests.conftest import ROOT
from tests.fakes.libretranslate import FakeLibreTranslate, untranslate

Key = tuple[str | None, str]
TOWN = (None, "Ihr Ort ist jetzt {town}.")  # a UI string with a placeholder
ANGEBOTE = (None, "Angebote in {town}:")
POLICE = "emergency:police:label"  # "Polizei"
ASYLUM = "topic:asylum.procedure:text"  # paragraphs and a list
KITA = "topic:kita.place:text"
UNDER_ONE = "topic:kita.age.under1:title"  # "Kind unter 1 Jahr"
WHATSAPP = "template:lotse_reply:text"  # "… {{1}} …"


@pytest.fixture
def locales(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "locales"
    shutil.copytree(ROOT / "locales", target)
    monkeypatch.setenv("LOTSE_LOCALES_DIR", str(target))
    monkeypatch.setenv("LOTSE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOTSE_TRANSLATION", "libre")
    monkeypatch.delenv("LIBRETRANSLATE_API_KEY", raising=False)
    return target


@pytest.fixture
def libre(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLibreTranslate]:
    with FakeLibreTranslate() as fake:
        monkeypatch.setenv("LIBRETRANSLATE_URL", fake.url)
        yield fake


def entries(locales: Path, language: str, domain: str) -> dict[Key, CatalogEntry]:
    path = catalog_path(locales, language, domain)
    return {(e.context, e.source): e for e in catalog_entries(path, language, domain)}


def by_context(locales: Path, language: str, context: str) -> CatalogEntry:
    (entry,) = [e for e in entries(locales, language, "content").values() if e.context == context]
    return entry


def flags(locales: Path, language: str, domain: str, context: str | None, source: str) -> set[str]:
    with catalog_path(locales, language, domain).open("rb") as handle:
        catalog = read_po(handle)
    (message,) = [m for m in catalog if m.context == context and m.id == source]
    return set(message.flags)


def edit(locales: Path, language: str, domain: str, changes: dict[str | None, Callable[[Message], None]]) -> None:
    """Change entries (by msgctxt; for `messages` by German text) as a translator's tool would."""
    path = catalog_path(locales, language, domain)
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=domain)
    done = set()
    for message in catalog:
        name = message.context if domain == "content" else message.id
        if message.id and name in changes:
            changes[name](message)
            done.add(name)
    assert done == set(changes), set(changes) - done
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, sort_output=False, ignore_obsolete=True, include_previous=True)


def make_missing(message: Message) -> None:
    message.string = ""
    message.flags -= {"fuzzy", "unreviewed", "machine"}


def make_reviewed(message: Message) -> None:
    message.flags.discard("fuzzy")


def make_stale(message: Message) -> None:
    message.previous_id = ["Ein älterer deutscher Text."]


def lotse(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_missing_entries_become_machine_drafts_and_nothing_else_changes(
    locales: Path, libre: FakeLibreTranslate, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(locales, "en", "messages", {TOWN[1]: make_missing, ANGEBOTE[1]: make_reviewed})
    edit(locales, "en", "content", {POLICE: make_missing, ASYLUM: make_missing, KITA: make_stale})
    before = {d: entries(locales, "en", d) for d in ("messages", "content")}
    arabic = entries(locales, "ar", "content")
    asylum = by_context(locales, "en", ASYLUM).source
    assert before["messages"][ANGEBOTE].state == "reviewed"
    assert by_context(locales, "en", KITA).state == "stale"

    code, out, err = lotse(capsys, "i18n", "translate", "--lang", "en")

    assert code == 0, err
    assert "en messages: 1 filled, 0 failed, 0 left" in out.splitlines()
    assert "en content: 2 filled, 0 failed, 0 left" in out.splitlines()
    assert "3/3" in err  # the progress bar, at its end
    after = {d: entries(locales, "en", d) for d in ("messages", "content")}
    town = after["messages"][TOWN]
    assert (town.translation, town.state) == ("[de→en] Ihr Ort ist jetzt {town}.", "machine")
    assert {"fuzzy", "machine"} <= flags(locales, "en", "messages", *TOWN)
    assert by_context(locales, "en", POLICE).translation == "[de→en] Polizei"
    drafted = by_context(locales, "en", ASYLUM)
    assert drafted.state == "machine"
    # line by line: paragraphs and the list survive, each line translated once, its dash kept
    assert untranslate(drafted.translation) == asylum
    lines = list(zip(drafted.translation.split("\n"), asylum.split("\n"), strict=True))
    assert all(mine.count("[de→en]") == (1 if german.strip() else 0) for mine, german in lines)
    assert any(mine.startswith("– [de→en] ") for mine, _ in lines)

    filled = {TOWN, (POLICE, "Polizei"), (ASYLUM, asylum)}
    for domain in ("messages", "content"):
        for key, entry in before[domain].items():
            if key not in filled:  # reviewed, unreviewed and stale entries are exactly as they were
                mine = after[domain][key]
                assert (mine.translation, mine.state, mine.previous_source) == (
                    entry.translation,
                    entry.state,
                    entry.previous_source,
                ), key
    assert entries(locales, "ar", "content") == arabic
    sent = {request.q for request in libre.translations()}
    assert sent <= {"Ihr Ort ist jetzt {town}.", "Polizei"} | {line.lstrip("– ") for line in asylum.split("\n")}

    catalogs = Catalogs.load(locales)
    served = catalogs.lookup("en", *reversed(TOWN))
    assert served is not None and (served.text, served.reviewed) == (town.translation, False)
    assert catalogs.lookup("en", by_context(locales, "en", KITA).source, KITA) is None  # stale: German shown


@pytest.mark.parametrize(
    ("domain", "context", "answer"),
    [
        ("messages", None, "Your town is now set."),  # the placeholder lost
        ("messages", None, "Your town is now {Stadt}."),  # the placeholder translated
        ("content", WHATSAPP, "Message from your integration management: {{2}} You can reply here."),
        ("content", UNDER_ONE, "Child under one year"),  # a number spelt out
    ],
)
def test_a_draft_that_changed_a_placeholder_or_number_is_left_empty_and_counted_failed(
    locales: Path,
    libre: FakeLibreTranslate,
    capsys: pytest.CaptureFixture[str],
    domain: str,
    context: str | None,
    answer: str,
) -> None:
    if domain == "messages":
        edit(locales, "en", "messages", {TOWN[1]: make_missing})
        key = TOWN
    else:
        edit(locales, "en", "content", {context: make_missing})
        key = (context, by_context(locales, "en", str(context)).source)
    edit(locales, "en", "content", {POLICE: make_missing})  # a neighbour the provider gets right
    libre.phrasebook[("de", "en", key[1])] = answer

    code, out, err = lotse(capsys, "i18n", "translate", "--lang", "en")

    assert code == 0, err
    failed = entries(locales, "en", domain)[key]
    assert (failed.translation, failed.state) == ("", "missing")
    assert "machine" not in flags(locales, "en", domain, *key)
    assert by_context(locales, "en", POLICE).state == "machine"
    summary = {line.split(":")[0]: line.split(": ")[1] for line in out.splitlines()}
    assert summary[f"en {domain}"] == ("0 filled, 1 failed, 1 left" if domain == "messages" else "1 filled, 1 failed, 1 left")


class GoesDownAfter(dict[tuple[str, str, str], str]):
    """A phrasebook that takes the fake LibreTranslate down once it has translated `trigger`.

    The fake looks every text up in its phrasebook before answering, so the provider fails in the
    middle of a run at a point the test knows, without any timing.
    """

    def __init__(self, fake: FakeLibreTranslate, trigger: str) -> None:
        super().__init__()
        self.fake, self.trigger = fake, trigger

    def __contains__(self, key: object) -> bool:
        if isinstance(key, tuple) and key[2] == self.trigger:
            self.fake.down()  # this answer still goes out; every later request gets 503
        return super().__contains__(key)


def test_a_provider_that_goes_down_stops_the_run_with_exit_2_and_what_was_filled_is_saved(
    locales: Path, libre: FakeLibreTranslate, capsys: pytest.CaptureFixture[str]
) -> None:
    order = [source for (_, source) in entries(locales, "en", "messages")]
    first, second, third = order[0], order[1], order[5]
    edit(locales, "en", "messages", {first: make_missing, second: make_missing, third: make_missing})
    edit(locales, "ar", "messages", {first: make_missing})
    libre.phrasebook = GoesDownAfter(libre, trigger=second)

    code, out, err = lotse(capsys, "i18n", "translate", "--lang", "en", "--lang", "ar")

    assert code == 2
    english = entries(locales, "en", "messages")
    assert [english[(None, s)].state for s in (first, second, third)] == ["machine", "machine", "missing"]
    assert english[(None, second)].translation == f"[de→en] {second}"
    assert entries(locales, "ar", "messages")[(None, first)].state == "missing"
    assert "en messages: 2 filled, 0 failed, 1 left" in out.splitlines()
    assert "ar messages: 0 filled, 0 failed, 1 left" in out.splitlines()
    errors = [line for line in err.splitlines() if line.startswith("lotse:")]
    assert len(errors) == 1 and errors == [err.rstrip("\n").splitlines()[-1]]
    assert "503" in errors[0] and "2 entries filled before are saved" in errors[0]


def test_clearing_fuzzy_in_a_gettext_tool_is_the_review(
    locales: Path, libre: FakeLibreTranslate, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(locales, "en", "content", {POLICE: make_missing})
    assert lotse(capsys, "i18n", "translate", "--lang", "en")[0] == 0

    def stats() -> dict[str, int]:
        code, out, _ = lotse(capsys, "content", "stats", "--json")
        assert code == 0
        (row,) = [r for r in json.loads(out) if (r["language"], r["domain"]) == ("en", "content")]
        return {state: row[state] for state in ("reviewed", "machine", "unreviewed")}

    def served() -> tuple[str, bool, bool]:
        catalogs = Catalogs.load(locales)
        entry = catalogs.lookup("en", "Polizei", POLICE)
        assert entry is not None
        tr = Translator(catalogs, "en")
        text = tr.content(POLICE, "Polizei")
        return text, entry.reviewed, tr.unreviewed_used  # unreviewed_used adds "(automatic translation)"

    draft = stats()
    assert draft["machine"] == 1
    assert served() == ("[de→en] Polizei", False, True)

    # Poedit's "needs work" toggle and Weblate's approval only remove `fuzzy`; `machine` stays.
    path = catalog_path(locales, "en", "content")
    text = path.read_text(encoding="utf-8")
    block = f'#, fuzzy, machine\nmsgctxt "{POLICE}"'
    assert text.count(block) == 1
    path.write_text(text.replace(block, f'#, machine\nmsgctxt "{POLICE}"'), encoding="utf-8")

    assert stats() == {**draft, "reviewed": draft["reviewed"] + 1, "machine": 0}
    assert served() == ("[de→en] Polizei", True, False)


def test_update_keeps_a_rewritten_texts_translation_as_stale_with_the_old_german(
    locales: Path,
    libre: FakeLibreTranslate,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    monkeypatch.setenv("LOTSE_CONTENT_DIR", str(content))
    kita = content / "topics" / "kita.yml"
    yaml = kita.read_text(encoding="utf-8")
    start = yaml.index("    text: |\n", yaml.index("key: kita.place")) + len("    text: |\n")
    end = yaml.index("    source:", start)
    rewritten = (
        "      Jedes Kind ab einem Jahr darf in eine Kita gehen.\n\n"
        "      Freie Plätze nennt Ihnen das Jugendamt.\n"
    )
    kita.write_text(yaml[:start] + rewritten + yaml[end:], encoding="utf-8")
    edit(locales, "ar", "content", {KITA: make_reviewed, UNDER_ONE: make_reviewed})
    before = {lang: entries(locales, lang, "content") for lang in TRANSLATED_LANGUAGES}
    old = by_context(locales, "en", KITA).source
    assert old.count("\n\n") > 1  # paragraphs: the previous German runs over many `#|` lines

    for _ in range(2):  # a second update must not make the stale entries look like drafts again
        code, _, err = lotse(capsys, "i18n", "update")
        assert code == 0, err
        for lang in TRANSLATED_LANGUAGES:
            after = entries(locales, lang, "content")
            entry = by_context(locales, lang, KITA)
            assert entry.source != old and "Jugendamt" in entry.source
            assert (entry.translation, entry.state, entry.previous_source) == (
                before[lang][(KITA, old)].translation,
                "stale",
                old,
            ), lang
            for key, was in before[lang].items():  # every unchanged entry keeps its state and flags
                if key != (KITA, old):
                    mine = after[key]
                    assert (mine.translation, mine.state, mine.previous_source) == (
                        was.translation,
                        was.state,
                        was.previous_source,
                    ), (lang, key)
    new = by_context(locales, "en", KITA).source
    assert difflib.get_close_matches(new, [old]) == []  # Babel's own matching would have lost it
    assert by_context(locales, "ar", UNDER_ONE).state == "reviewed"
    assert flags(locales, "ar", "content", UNDER_ONE, "Kind unter 1 Jahr") == {"unreviewed"}  # as left

    assert Catalogs.load(locales).lookup("ar", new, KITA) is None  # the German is shown until re-checked
    code, out, _ = lotse(capsys, "i18n", "translate", "--lang", "ar")
    assert code == 0 and "ar content: 0 filled, 0 failed, 0 left" in out.splitlines()
    # a stale translation is a translator's to re-check, not the machine's to redo
    assert not set(new.split("\n")) & {request.q for request in libre.translations()}
    assert by_context(locales, "ar", KITA).state == "stale"


def test_translate_refuses_unknown_languages_and_providers_before_sending_anything(
    locales: Path, libre: FakeLibreTranslate, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(locales, "en", "content", {POLICE: make_missing})
    for argv, message in (
        (("--lang", "xx"), "no catalogs for 'xx'"),
        (("--lang", "en", "--provider", "babelfish"), "unknown translation provider 'babelfish'"),
        ((), "needs --lang"),
    ):
        code, _, err = lotse(capsys, "i18n", "translate", *argv)
        assert code == 2 and message in err, (argv, err)
    assert libre.translations() == []
    assert by_context(locales, "en", POLICE).state == "missing"
