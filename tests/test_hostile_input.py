"""Hostile and garbled input: property-based tests of what reads user and editor input, and the console
showing injection attempts as plain text.

The properties are checked with hypothesis on any Unicode text (right-to-left scripts, emoji,
combining marks, controls), garbled content files and made-up button payloads. Runs are
derandomised and keep no example database, so CI sees the same examples every time; a failure
prints the smallest example hypothesis found.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from markupsafe import escape
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels.text import split_text, utf16_length
from bot.config import Settings
from bot.engine.dialogue import Dialogue
from bot.engine.engine import Engine
from bot.engine.messages import Inbound, Outbound
from bot.engine.normalise import MAX_UNDERSTOOD_CHARS, clean, digits_to_ascii, for_matching, has_words
from bot.engine.state import ConversationState
from bot.engine.understanding import EMPTY_PARSE, FALLBACK_INTENT, Parse
from bot.handover.desk import Desk
from bot.i18n.catalogs import Catalogs
from bot.i18n.langid import LanguageIdentifier
from bot.i18n.languages import LANGUAGES
from bot.knowledge.content import Content, load_content
from bot.knowledge.errors import ContentError, ContentErrors
from bot.live.editions import Editions
from bot.storage.handovers import Handovers
from bot.storage.repository import SqlConversationStore
from bot.storage.tables import conversations, handovers, messages, metadata, users
from bot.translation.service import MachineTranslation
from tests.conftest import Chat
from tests.console_app import ConsoleApp
from tests.fakes.libretranslate import FakeLibreTranslate
from tests.harness import desk_for_tests

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY_MORNING = dt.datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN)
QUICK = settings(max_examples=300, deadline=None, derandomize=True, database=None)
SLOW = settings(  # each example loads the whole content folder (a quarter of a second)
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BIDI_AND_INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff\u00ad\u061c"
)

# Any text without lone surrogates (which no channel lets through, see bot.channels.untrusted), with
# the characters that break naive code made likely: bidi overrides, zero-width joiners, combining
# marks, Arabic letter variants, non-ASCII digits, astral emoji and every kind of white space.
NASTY_CHARS = st.sampled_from(
    sorted(BIDI_AND_INVISIBLE)
    + list("\u0301\u0307\u0308\u0327\u0653\u0654\u0655\u05b9\u0345\u20f0")  # combining marks
    + list("İıßẞΣσςǰﬀΐ가각")  # letters whose case folding or composition changes length
    + list("يكىأإآةیکها٣۳१²①")  # Arabic-script variants, digits of other scripts
    + ["😀", "👨‍👩‍👧", "🇩🇪", "🏽", "\ufe0f"]
    + list(" \n\t\r\x0b\x0c\x85\xa0\u2028\u2029\u3000")
    + list("\x00\x07\x1b\x7f\x9b")
)
ANY_TEXT = st.lists(st.one_of(st.characters(codec="utf-8"), NASTY_CHARS), max_size=300).map("".join)
LONG_TEXT = st.builds(lambda head, n: head * n, ANY_TEXT.filter(bool), st.integers(1, 40))


# 1. text normalisation


@QUICK
@given(st.one_of(ANY_TEXT, LONG_TEXT))
def test_cleaning_is_stable_bounded_and_leaves_no_controls(text: str) -> None:
    cleaned = clean(text)
    assert clean(cleaned) == cleaned  # cleaning what the NLU saw changes nothing
    assert len(cleaned) <= MAX_UNDERSTOOD_CHARS
    assert cleaned == cleaned.strip() and "  " not in cleaned
    for char in cleaned:
        assert char not in BIDI_AND_INVISIBLE, f"U+{ord(char):04X} survived"
        assert unicodedata.category(char) not in {"Cc", "Cf"}, f"U+{ord(char):04X} survived"
    words = [ch for ch in text if ch.isalnum()]
    if words and len(text) <= MAX_UNDERSTOOD_CHARS:
        assert has_words(cleaned)  # letters and digits are never cleaned away


@QUICK
@given(st.one_of(ANY_TEXT, LONG_TEXT))
def test_matching_form_is_stable_and_case_and_variant_blind(text: str) -> None:
    matching = for_matching(text)
    assert for_matching(matching) == matching  # a phrase list in matching form matches itself
    assert not any(ch in matching for ch in "يكىأإآة")  # one spelling of each Arabic-script letter
    assert not any(ch in BIDI_AND_INVISIBLE for ch in matching)


@QUICK
@given(ANY_TEXT)
def test_digits_of_every_script_read_as_ascii_and_nothing_else_changes(text: str) -> None:
    converted = digits_to_ascii(text)
    assert len(converted) == len(text)
    assert digits_to_ascii(converted) == converted
    for before, after in zip(text, converted, strict=True):
        if before.isdigit():
            assert after in "0123456789"
        else:
            assert after == before
    has_words(text)  # never raises, whatever the text


def test_known_digits_and_bidi_examples() -> None:
    assert digits_to_ascii("٠١٢٣ ۴۵۶ 789") == "0123 456 789"
    assert clean("\u202eReutlingen\u202c\u200b") == "Reutlingen"
    assert for_matching("İNTİHAR") == "intihar"
    assert for_matching("كيف") == for_matching("کیف")


# 2. splitting long messages

LIMITS = st.integers(2, 60)
LETTERS: tuple[Literal["L"]] = ("L",)


@QUICK
@given(st.one_of(ANY_TEXT, LONG_TEXT), LIMITS, st.none() | LIMITS)
def test_split_parts_fit_keep_every_character_in_order_and_are_never_blank(
    text: str, limit: int, last_limit: int | None
) -> None:
    parts = split_text(text, limit, last_limit)
    assert parts
    if not text.strip():
        assert parts == [""]  # nothing to send; the sender sends nothing
        return
    for part in parts:
        assert part and part == part.strip(), parts  # no empty or blank message, no edge spaces
        assert utf16_length(part) <= limit
    if last_limit is not None:
        assert utf16_length(parts[-1]) <= last_limit
    # Only white space may change, and only where a part ends or where it was folded at a cut.
    assert "".join("".join(p.split()) for p in parts) == "".join(text.split())
    if utf16_length(text.strip()) <= min(limit, last_limit or limit):
        assert parts == [text.strip()]  # what fits is sent as it is


@QUICK
@given(st.lists(st.text(st.characters(categories=LETTERS), min_size=1, max_size=12), min_size=1))
def test_words_are_only_cut_when_a_word_alone_is_over_the_limit(words: list[str]) -> None:
    text = " ".join(words)
    limit = 24
    parts = split_text(text, limit)
    fitting = [w for w in words if utf16_length(w) <= limit]
    pieces = [w for p in parts for w in p.split(" ")]
    assert pieces == fitting  # every word arrives whole, in order


# 3. content files


@pytest.fixture(scope="module")
def content_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of content/ that the examples garble one file at a time."""
    target = tmp_path_factory.mktemp("garbled") / "content"
    shutil.copytree(Settings().content_dir, target)
    return target


def _content_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.yml"))


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place inside a parsed YAML document a value could be replaced at."""
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, (*prefix, index))


def _replace(data: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return data


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", " ", "mon", "25:00-26:00", "09:00-08:00", "2024-02-30", "Europe/Nowhere", "xx"]),
    st.dates(),
    st.just("ا" * 50_000),  # huge
)
GARBAGE = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def _deep(depth: int) -> Any:
    value: Any = "unten"
    for level in range(depth):
        value = [value] if level % 2 else {"tiefer": value}
    return value


def _assert_loads_or_names_file_and_line(root: Path, garbled: Path) -> None:
    try:
        content = load_content(root)
    except ContentErrors as exc:
        assert exc.errors, "ContentErrors without a single error"
        for error in exc.errors:
            assert isinstance(error, ContentError)
            assert error.path.startswith("content"), error.path  # relative, as an editor opens it
        relative = str(garbled.relative_to(root.parent))
        own = [e for e in exc.errors if e.path == relative]
        assert all(e.line is not None and e.line >= 1 for e in own), [str(e) for e in own]
        return
    # Content that loads must also answer: office hours are computed from the region's clock.
    assert isinstance(content, Content)
    for team in content.teams.values():
        content.calendar.openings_on(team, TUESDAY_MORNING.date())
    content.find_town("Reutlingen")


@SLOW
@given(data=st.data())
def test_garbled_values_in_content_load_or_are_reported_with_file_and_line(
    content_copy: Path, data: st.DataObject
) -> None:
    files = _content_files(content_copy)
    path = data.draw(st.sampled_from(files), label="file")
    original = path.read_bytes()
    document = yaml.safe_load(original)
    where = data.draw(st.sampled_from(list(_paths(document))), label="path")
    delete = bool(where) and data.draw(st.booleans(), label="delete")
    value = data.draw(st.one_of(GARBAGE, st.builds(_deep, st.integers(2, 120))), label="value")
    garbled = _replace(document, where, value, delete)
    try:
        path.write_text(yaml.safe_dump(garbled, allow_unicode=True, sort_keys=False), encoding="utf-8")
        _assert_loads_or_names_file_and_line(content_copy, path)
    finally:
        path.write_bytes(original)


RAW_GARBAGE = st.one_of(
    st.binary(min_size=1, max_size=20),  # invalid UTF-8 too
    st.sampled_from(
        [
            b"\t",
            b": : :",
            b"- [",
            b"{",
            b"&a x",
            b"*nirgends",
            b"!!python/object/apply:os.system ['true']",
            b"!!bool vielleicht",
            b"!!int zwoelf",
            b"2024-13-45",
            b"\x00",
            b"\x07",
            b"\xef\xbb\xbf",
            b"\xff\xfe",
            b"[" * 5000,
            b"? " * 100,
            b"\n" + b"  " * 3000 + b"x: y",
            ("x" * 200_000).encode(),
        ]
    ),
)


@SLOW
@given(data=st.data())
def test_garbled_bytes_in_content_files_are_reported_with_file_and_line(
    content_copy: Path, data: st.DataObject
) -> None:
    files = _content_files(content_copy)
    path = data.draw(st.sampled_from(files), label="file")
    original = path.read_bytes()
    at = data.draw(st.integers(0, len(original)), label="offset")
    cut = data.draw(st.integers(0, 40), label="removed")
    insert = data.draw(RAW_GARBAGE, label="inserted")
    try:
        path.write_bytes(original[:at] + insert + original[at + cut :])
        _assert_loads_or_names_file_and_line(content_copy, path)
    finally:
        path.write_bytes(original)


@pytest.mark.parametrize(
    ("written", "line"),
    [
        ("region:\n  id: x\n  last_checked: 2024-13-45\n", 3),
        ("region:\n  id: x\n  name: \x07\n", 3),
        ("region:\n  a: " + "[" * 3000 + "\n", 2),
        ("region:\n  timezone: Europe/Nirgendwo\n", 2),
        ("region:\n  id: x\n  holiday_subdivision: XX\n", 3),
    ],
    ids=["impossible date", "control character", "deep nesting", "unknown time zone", "unknown state"],
)
def test_typical_breakages_name_their_line(content_copy: Path, written: str, line: int) -> None:
    region = content_copy / "region.yml"
    original = region.read_bytes()
    try:
        region.write_text(written, encoding="utf-8")
        with pytest.raises(ContentErrors) as raised:
            load_content(content_copy)
    finally:
        region.write_bytes(original)
    lines = {e.line for e in raised.value.errors if e.path == "content/region.yml"}
    assert line in lines, [str(e) for e in raised.value.errors]


# 4. button payloads


@pytest.fixture(scope="module")
def dialogue(content: Content, catalogs: Catalogs) -> Dialogue:
    return Dialogue(Editions(content, catalogs))


def _payloads(content: Content) -> st.SearchStrategy[str]:
    from bot.engine.dialogue import AGE_GROUPS, SERVICES

    known = {
        "topic": sorted(content.topics),
        "town": [*sorted(content.towns), "change"],
        "lang": list(LANGUAGES),
        "age": list(AGE_GROUPS),
        "status": ["reception", "municipality"],
        "service": list(SERVICES),
        "handover": ["offer", "yes", "no"],
        "feedback": ["helped", "not_helped"],
        "cmd": ["language", "menu"],
        "privacy": ["delete", "export"],
        "intent": ["greet", "kita_place", "human_handoff", "emergency", "asylum_rejected"],
    }
    valid = st.sampled_from(sorted(known)).flatmap(
        lambda kind: st.sampled_from(known[kind]).map(lambda value: f"{kind}:{value}")
    )
    near = st.tuples(st.sampled_from(sorted(known)), ANY_TEXT).map(lambda kv: f"{kv[0]}:{kv[1]}")
    return st.one_of(
        valid,
        near,  # a known kind with a made-up value
        ANY_TEXT,  # no kind at all
        st.sampled_from(
            ["", ":", "::", "topic:", ":topic", "town:../../etc", "lang:de:ar", "topic:" + "x" * 5000]
        ),
    )


@QUICK
@given(data=st.data())
def test_any_sequence_of_button_presses_gets_a_polite_answer(
    dialogue: Dialogue, content: Content, data: st.DataObject
) -> None:
    state = ConversationState(
        conversation_id=1,
        user_id=1,
        status=data.draw(st.sampled_from(["bot", "waiting"]), label="status"),
        language=data.draw(st.sampled_from(list(LANGUAGES)), label="language"),
        town=data.draw(st.none() | st.sampled_from(sorted(content.towns)), label="town"),
        is_new=data.draw(st.booleans(), label="new"),
    )
    presses = data.draw(st.lists(_payloads(content), min_size=1, max_size=5), label="presses")
    for payload in presses:
        turn = dialogue.respond(
            state, Inbound("test", "1", payload=payload), EMPTY_PARSE, None, TUESDAY_MORNING
        )
        state.is_new = False
        if turn.erase:
            return  # "delete my data" ends the conversation; the next message starts a new one
        if state.status == "human":
            return  # a person took over (an emergency press); the bot keeps quiet from here
        assert turn.messages and all(m.text.strip() for m in turn.messages), payload
        for message in turn.messages:
            for button in message.buttons:  # what the bot offers next fits every platform
                assert button.payload and len(button.payload.encode()) <= 64, button


@QUICK
@given(payload=st.one_of(ANY_TEXT, st.tuples(ANY_TEXT, ANY_TEXT).map(":".join)))
def test_a_payload_of_no_known_kind_gets_the_menu_again(dialogue: Dialogue, payload: str) -> None:
    kind = payload.partition(":")[0]
    assume(kind not in {"intent", "topic", "lang", "town", "age", "status", "service", "handover"})
    assume(kind not in {"feedback", "cmd", "privacy"} and payload)  # "" is no press, but a text

    def press(payload: str) -> list[Outbound]:
        state = ConversationState(conversation_id=1, user_id=1, language="de", language_explicit=True)
        turn = dialogue.respond(
            state, Inbound("test", "1", payload=payload), EMPTY_PARSE, None, TUESDAY_MORNING
        )
        assert turn.intent == FALLBACK_INTENT and not turn.handover and not turn.erase
        return turn.messages

    answer = press(payload)
    assert answer[0].text.startswith("Diese Auswahl ist nicht mehr gültig")
    assert answer == press("unbekannt:wert")  # the same menu, whatever the garbage


@pytest.mark.model
@pytest.mark.parametrize(
    "payload",
    [
        "topic:" + "x" * 5000,  # far over the 128 characters the transcript keeps of a payload
        "town:' OR 1=1 --",
        "lang:../../etc/passwd",
        "handover:" + "ي" * 300,
        "😀:😀",
        "cmd:",
    ],
    ids=["overlong", "sql", "path", "arabic", "emoji", "empty value"],
)
async def test_garbage_payloads_through_the_engine_and_database_get_the_menu(
    chat: Chat, payload: str
) -> None:
    reply = await chat.press(payload)
    assert reply.intent == FALLBACK_INTENT
    assert reply.messages[0].text.startswith("Diese Auswahl ist nicht mehr gültig")
    again = await chat.say("Hallo")  # the conversation goes on
    assert again.messages


@pytest.mark.model
async def test_nul_and_lone_surrogates_from_the_web_chat_are_stored_and_answered(chat: Chat) -> None:
    """The web chat and the CLI pass on any string; PostgreSQL refuses NUL, UTF-8 lone surrogates."""
    reply = await chat.say("Kita\x00platz \ud800 für mein Kind")
    assert reply.messages  # answered, not an error
    again = await chat.say("Hallo")
    assert again.messages


# 5. injection attempts reach the console as text


HOSTILE = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'; DROP TABLE messages; --",
    "Robert'); DROP TABLE users;-- 1' OR '1'='1",
    "{{7*7}} {% if 1 %}ja{% endif %} ${7*7}",
    "\u202eexe.txt\u202c <b>fett</b> &amp; &lt;",
)
ASK = "أريد التحدث مع موظف من فضلك"  # "I want to talk to an employee, please"
REUTLINGEN_TEAM = "im-stadt-reutlingen"
FAR_AWAY = dt.datetime(2033, 5, 10, 10, 0, tzinfo=BERLIN)  # no other test writes fallbacks then


def _shown_as_text(html: str, text: str) -> None:
    """The text is in the page escaped, so a browser shows it and runs or renders none of it."""
    assert str(escape(text)) in html, text
    if "<" in text or '"' in text:
        assert text not in html, f"unescaped: {text}"
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>fett" not in html


@pytest.fixture(scope="module")
def libre() -> Iterator[FakeLibreTranslate]:
    with FakeLibreTranslate({}) as fake:  # "[ar→de] <text>": the German column repeats the text
        yield fake


@pytest.mark.model
async def test_injection_attempts_are_stored_verbatim_and_shown_escaped_in_the_console(
    engine: Engine, settings: Settings, libre: FakeLibreTranslate
) -> None:
    database: AsyncEngine = engine.store.engine  # type: ignore[attr-defined]
    user = f"u-{uuid.uuid4().hex[:10]}"

    async def say(text: str = "", payload: str | None = None) -> None:
        inbound = Inbound("telegram", user, text=text, payload=payload)
        await engine.handle(inbound, now=TUESDAY_MORNING, town="reutlingen", language="ar")

    for text in HOSTILE:
        await say(text=text)
    await say(text=ASK)
    await say(payload="handover:yes")

    async with database.connect() as conn:
        tables = set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
        stored = (
            await conn.execute(
                sa.select(messages.c.text, handovers.c.id)
                .select_from(
                    messages.join(conversations, conversations.c.id == messages.c.conversation_id)
                    .join(users, users.c.id == conversations.c.user_id)
                    .outerjoin(handovers, handovers.c.conversation_id == conversations.c.id)
                )
                .where(users.c.external_id == user, messages.c.direction == "in")
                .order_by(messages.c.id)
            )
        ).all()
    assert set(metadata.tables) <= tables  # nothing was dropped
    assert [row.text for row in stored][: len(HOSTILE)] == list(HOSTILE)  # kept exactly as written
    case_id = stored[0].id
    assert case_id is not None, "the user agreed, but no handover was created"

    desk = desk_for_tests(engine, settings, libre.url, TUESDAY_MORNING + dt.timedelta(minutes=5))
    console = ConsoleApp(database, desk)
    try:
        caseworker, _staff = await console.signed_in("caseworker", REUTLINGEN_TEAM)
        queue = await caseworker.get("/console/queue")
        assert queue.status_code == 200 and f'href="/console/cases/{case_id}"' in queue.text
        page = await caseworker.get(f"/console/cases/{case_id}")
        lines = await caseworker.get(f"/console/cases/{case_id}/lines")
    finally:
        await console.close()
    assert page.status_code == 200 and lines.status_code == 200
    for html in (page.text, lines.text):
        for text in HOSTILE:
            _shown_as_text(html, text)
        assert "49 ja" not in html  # the template syntax was not evaluated
        # the right-to-left override is isolated in the line it came with, not flipping the page
        assert re.search(r"<bdi>\u202eexe\.txt\u202c [^<]*</bdi>", html), "override outside <bdi>"


class Misunderstood:
    """An understanding that never knows what is meant: every text ends in the fallback."""

    async def parse(self, text: str) -> Parse:
        return Parse(FALLBACK_INTENT, 0.1)


async def test_injection_attempts_among_the_questions_lotse_did_not_understand_are_shown_escaped(
    database: AsyncEngine,
    content: Content,
    catalogs: Catalogs,
    langid: LanguageIdentifier,
    settings: Settings,
) -> None:
    editions = Editions(content, catalogs)
    translation = MachineTranslation.from_settings(dataclasses.replace(settings, translation_provider="none"))
    desk = Desk(Handovers(database), editions, translation, clock=lambda: FAR_AWAY)
    engine = Engine(editions, Misunderstood(), SqlConversationStore(database), langid)
    for text in HOSTILE:
        inbound = Inbound("telegram", f"u-{uuid.uuid4().hex[:10]}", text=text)
        reply = await engine.handle(inbound, now=FAR_AWAY - dt.timedelta(hours=2), language="de")
        assert reply.intent == FALLBACK_INTENT

    console = ConsoleApp(database, desk, settings.locales_dir)  # read only, never changed here
    try:
        editor, _staff = await console.signed_in("editor")
        page = await editor.get("/console/editor/fallbacks", params={"days": "1", "language": "de"})
    finally:
        await console.close()
    assert page.status_code == 200
    for text in HOSTILE:
        _shown_as_text(page.text, clean(text))  # cleaned for grouping: the bidi override is gone
    assert "\u202e" not in page.text and "49 ja" not in page.text
