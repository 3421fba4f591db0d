"""Machine translation for the console, through the real LibreTranslate client and a fake server.

Nothing is patched: each test runs `MachineTranslation` → `LibreTranslateClient` → HTTP → the fake
LibreTranslate, so the timeouts, status codes and error bodies are the real ones.
"""

from __future__ import annotations

import ast
import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from bot.config import Settings
from bot.translation import (
    LibreTranslateClient,
    MachineTranslation,
    Translation,
    TranslationConfigError,
    TranslationDisabled,
    TranslationRejected,
    TranslationUnavailable,
)
from bot.translation.chunks import split_for_translation
from tests.conftest import ROOT
from tests.fakes.libretranslate import FakeLibreTranslate, untranslate

GOOD_DAY = {
    "de": "Guten Tag",
    "en": "Good day",
    "ar": "نهارك سعيد",
    "fa": "روز بخیر",
    "uk": "Добрий день",
    "ru": "Добрый день",
    "tr": "İyi günler",
}
USER_LANGUAGES = ("en", "ar", "fa", "uk", "ru", "tr")
PHRASEBOOK = {
    **{(lang, "de", GOOD_DAY[lang]): "Guten Tag" for lang in USER_LANGUAGES},
    **{("de", lang, "Guten Tag"): GOOD_DAY[lang] for lang in USER_LANGUAGES},
}

Make = Callable[..., MachineTranslation]


class Clock:
    """A monotonic clock the test moves, so a 30-second cool-down takes no time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake() -> Iterator[FakeLibreTranslate]:
    with FakeLibreTranslate(PHRASEBOOK) as server:
        yield server


@pytest.fixture
def make() -> Iterator[Make]:
    made: list[MachineTranslation] = []

    def build(
        server: FakeLibreTranslate, *, api_key: str = "", http_timeout: float = 5.0, **options: Any
    ) -> MachineTranslation:
        client = LibreTranslateClient(server.url, api_key, timeout=http_timeout)
        service = MachineTranslation(client, **options)
        made.append(service)
        return service

    yield build
    for service in made:
        service.close()


def settings(**values: Any) -> Settings:
    return Settings(**values)


# -- languages ------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", USER_LANGUAGES)
async def test_libre_translates_every_lotse_language_both_ways(
    make: Make, fake: FakeLibreTranslate, language: str
) -> None:
    service = make(fake)
    incoming = await service.translate(GOOD_DAY[language], language, "de")
    outgoing = await service.translate("Guten Tag", "de", language)
    assert incoming == Translation("Guten Tag", language, "de", "libre", True)
    assert outgoing == Translation(GOOD_DAY[language], "de", language, "libre", True)
    asked = [(r.params["source"], r.params["target"], r.params["format"]) for r in fake.translations()]
    assert asked == [(language, "de", "text"), ("de", language, "text")]


def test_the_server_offers_all_seven_languages(fake: FakeLibreTranslate) -> None:
    client = LibreTranslateClient(fake.url)
    try:
        languages = client.languages()
    finally:
        client.close()
    assert set(languages) == set(GOOD_DAY)
    assert all(set(targets) >= set(GOOD_DAY) for targets in languages.values())


async def test_unknown_source_is_detected_by_the_server(make: Make, fake: FakeLibreTranslate) -> None:
    result = await make(fake).translate(GOOD_DAY["fa"], None, "de")
    assert result == Translation("Guten Tag", None, "de", "libre", True)
    assert fake.translations()[0].params["source"] == "auto"


async def test_dari_and_regional_tags_are_sent_as_persian(make: Make, fake: FakeLibreTranslate) -> None:
    service = make(fake)
    assert (await service.translate(GOOD_DAY["fa"], "prs", "de")).text == "Guten Tag"
    assert (await service.translate("Guten Tag", "de-DE", "fa_AF")).text == GOOD_DAY["fa"]
    assert [(r.params["source"], r.params["target"]) for r in fake.translations()] == [
        ("fa", "de"),
        ("de", "fa"),
    ]


async def test_same_language_or_empty_text_is_returned_without_a_call(
    make: Make, fake: FakeLibreTranslate
) -> None:
    service = make(fake)
    assert await service.translate("Hallo", "de", "de") == Translation("Hallo", "de", "de", None, False)
    assert (await service.translate("Hallo", "de-AT", "de")).machine is False
    assert await service.translate("  \n", "ar", "de") == Translation("  \n", "ar", "de", None, False)
    assert fake.requests == []


# -- API key and errors ---------------------------------------------------------------------------


async def test_the_api_key_is_sent_and_a_wrong_one_is_reported(make: Make) -> None:
    with FakeLibreTranslate(PHRASEBOOK, api_key="district-key") as server:
        good = make(server, api_key="district-key")
        assert (await good.translate("Guten Tag", "de", "uk")).text == GOOD_DAY["uk"]
        assert server.translations()[0].api_key == "district-key"

        for key in ("wrong-key", ""):
            with pytest.raises(TranslationUnavailable, match=r"refused the API key.*Invalid API key"):
                await make(server, api_key=key).translate("Guten Tag", "de", "uk")
        assert [r.status for r in server.translations()] == [200, 403, 403]
        assert server.translations()[2].api_key is None


async def test_a_server_error_is_reported_and_opens_the_breaker(make: Make, fake: FakeLibreTranslate) -> None:
    service = make(fake, clock=Clock())
    fake.fail_next(1, status=500)
    with pytest.raises(TranslationUnavailable, match=r"HTTP 500: Cannot translate text: fake failure"):
        await service.translate("Guten Tag", "de", "ar")
    assert not service.available
    assert "HTTP 500" in service.status and "down since" in service.status


async def test_a_proxy_error_page_is_reported(make: Make, fake: FakeLibreTranslate) -> None:
    fake.down()
    with pytest.raises(TranslationUnavailable, match=r"HTTP 503: .*Service Temporarily Unavailable"):
        await make(fake).translate("Guten Tag", "de", "ar")


async def test_an_unreachable_server_is_reported_with_its_address(make: Make) -> None:
    server = FakeLibreTranslate().start()
    url = server.url
    server.stop()
    client = LibreTranslateClient(url, timeout=2.0)
    service = MachineTranslation(client)
    try:
        with pytest.raises(TranslationUnavailable, match=rf"LibreTranslate at {url} is unreachable"):
            await service.translate("Guten Tag", "de", "tr")
    finally:
        service.close()


async def test_a_refused_language_does_not_count_as_an_outage(make: Make, fake: FakeLibreTranslate) -> None:
    service = make(fake, clock=Clock())
    with pytest.raises(TranslationRejected, match="xx is not supported"):
        await service.translate("Guten Tag", "de", "xx")
    assert service.available
    assert (await service.translate("Guten Tag", "de", "tr")).text == GOOD_DAY["tr"]


# -- deadline and circuit breaker -----------------------------------------------------------------


async def test_a_hanging_server_costs_one_deadline_then_calls_fail_fast_until_the_cooldown_ends(
    make: Make, fake: FakeLibreTranslate
) -> None:
    clock = Clock()
    service = make(fake, timeout=0.5, cooldown=30.0, clock=clock, http_timeout=10.0)
    fake.hang(2.0)
    started = time.monotonic()
    with pytest.raises(TranslationUnavailable, match=r"no answer within 0.5 s"):
        await service.translate("Wo ist das Amt?", "de", "ar")
    assert time.monotonic() - started < 1.5
    assert not service.available and service.down_since is not None

    started = time.monotonic()
    for _ in range(10):
        with pytest.raises(TranslationUnavailable, match=r"down since .*no answer within 0.5 s"):
            await service.translate("Noch eine Frage", "de", "ar")
    assert time.monotonic() - started < 0.5

    fake.heal()  # the hanging answer is sent now, long after the caller gave up
    assert await _eventually(lambda: len(fake.translations()) == 1)
    # the ten calls during the outage never reached the server, and the late answer was kept
    late = await _eventually_translated(service, "Wo ist das Amt?", "de", "ar")
    assert untranslate(late.text) == "Wo ist das Amt?"
    assert len(fake.translations()) == 1
    assert not service.available  # a late answer is no proof that the provider keeps its deadline

    clock.advance(31)
    assert service.available
    result = await service.translate("Noch eine Frage", "de", "ar")
    assert result.text == "[de→ar] Noch eine Frage"
    assert service.down_since is None and service.status == "libre: available"


async def test_the_clients_own_timeout_frees_its_thread(make: Make, fake: FakeLibreTranslate) -> None:
    service = make(fake, timeout=5.0, http_timeout=0.3)
    fake.hang(2.0)
    started = time.monotonic()
    with pytest.raises(TranslationUnavailable, match="did not answer in time"):
        await service.translate("Guten Tag", "de", "ru")
    assert time.monotonic() - started < 1.5


# -- cache ----------------------------------------------------------------------------------------


async def test_a_repeated_text_is_answered_from_the_cache(make: Make, fake: FakeLibreTranslate) -> None:
    service = make(fake)
    first = await service.translate("Guten Tag", "de", "ar")
    second = await service.translate("Guten Tag", "de", "ar")
    assert first == second == Translation(GOOD_DAY["ar"], "de", "ar", "libre", True)
    assert len(fake.translations()) == 1
    await service.translate("Guten Tag", "de", "fa")  # another target is another entry
    assert len(fake.translations()) == 2


async def test_failures_are_not_cached(make: Make, fake: FakeLibreTranslate) -> None:
    service = make(fake, cooldown=0.0)
    fake.fail_next(1, status=500)
    with pytest.raises(TranslationUnavailable):
        await service.translate("Guten Tag", "de", "ar")
    assert (await service.translate("Guten Tag", "de", "ar")).text == GOOD_DAY["ar"]
    assert [r.status for r in fake.translations()] == [500, 200]


async def test_the_cache_forgets_the_least_recently_used(make: Make, fake: FakeLibreTranslate) -> None:
    service = make(fake, cache_size=2)
    for text in ("eins", "zwei", "eins", "drei", "eins", "zwei"):
        await service.translate(text, "de", "tr")
    assert [r.q for r in fake.translations()] == ["eins", "zwei", "drei", "zwei"]


# -- long texts -----------------------------------------------------------------------------------


async def test_a_long_text_is_split_at_paragraphs_and_joined_again(
    make: Make, fake: FakeLibreTranslate
) -> None:
    text = "\n\n".join(f"Absatz {i}. " + "Ein Satz mit einigen Wörtern. " * 40 for i in range(14))
    assert len(text) > 3 * 5000
    result = await make(fake).translate(text, "de", "uk")
    sent = [r.q for r in fake.translations()]
    assert len(sent) >= 4
    assert all(len(q) <= 5000 and q.startswith("Absatz ") and q.endswith(".") for q in sent)
    assert untranslate(result.text) == text
    assert result.text.count("[de→uk] ") == len(sent)


def test_pieces_join_to_exactly_the_text_and_prefer_sentence_ends() -> None:
    text = "Wann ist die Anhörung?  Ich habe einen Brief vom BAMF bekommen. " * 20
    pieces = split_for_translation(text, 200)
    assert "".join(pieces) == text
    assert all(len(p) <= 200 for p in pieces)
    assert all(p.rstrip().endswith(("?", ".")) for p in pieces)


def test_arabic_question_marks_end_sentences_and_a_word_without_spaces_is_cut_hard() -> None:
    arabic = "هل تحتاج إلى مساعدة في طلب اللجوء؟ " * 30
    assert all(p.rstrip().endswith("؟") for p in split_for_translation(arabic, 150))
    assert [len(p) for p in split_for_translation("x" * 250, 100)] == [100, 100, 50]


# -- transcripts ----------------------------------------------------------------------------------


async def test_a_transcript_is_translated_in_order_and_repeats_only_once(
    make: Make, fake: FakeLibreTranslate
) -> None:
    service = make(fake)
    texts = [GOOD_DAY["ar"], "Ich brauche Hilfe", GOOD_DAY["ar"], "Danke"]
    results = await service.translate_many(texts, "ar", "de")
    assert [r.text if r else None for r in results] == [
        "Guten Tag",
        "[ar→de] Ich brauche Hilfe",
        "Guten Tag",
        "[ar→de] Danke",
    ]
    assert len(fake.translations()) == 3


async def test_a_transcript_during_an_outage_ends_fast_with_no_translations(
    make: Make, fake: FakeLibreTranslate
) -> None:
    service = make(fake, timeout=2.0, clock=Clock())
    fake.down()
    started = time.monotonic()
    results = await service.translate_many([f"Nachricht {i}" for i in range(40)], "de", "fa")
    assert results == [None] * 40
    assert time.monotonic() - started < 1.5
    assert len(fake.translations()) <= 4  # the pool's first round; the breaker stopped the rest


async def test_a_transcript_deadline_returns_what_is_done_without_blaming_the_provider(
    make: Make, fake: FakeLibreTranslate
) -> None:
    service = make(fake, timeout=5.0, clock=Clock())
    await service.translate("Danke", "de", "ru")  # cached before the server slows down
    fake.hang(2.0)
    started = time.monotonic()
    results = await service.translate_many(["Danke", "Bitte"], "de", "ru", deadline=0.3)
    assert time.monotonic() - started < 1.5
    assert results[0] is not None and results[0].text == "[de→ru] Danke"
    assert results[1] is None
    assert service.available


# -- settings -------------------------------------------------------------------------------------


async def test_libre_from_settings_uses_url_key_and_timeout() -> None:
    with FakeLibreTranslate(PHRASEBOOK, api_key="k") as server:
        service = MachineTranslation.from_settings(
            settings(
                translation_provider=" Libre ",
                libretranslate_url=server.url + "/",
                libretranslate_api_key="k",
                translation_timeout=3.0,
            )
        )
        try:
            assert service.provider_name == "libre" and service.timeout == 3.0
            assert (await service.translate("Guten Tag", "de", "fa")).text == GOOD_DAY["fa"]
            assert server.translations()[0].api_key == "k"
        finally:
            service.close()


async def test_provider_none_translates_nothing_and_says_so() -> None:
    service = MachineTranslation.from_settings(settings(translation_provider="none"))
    try:
        with pytest.raises(TranslationDisabled, match="switched off"):
            await service.translate("Guten Tag", "de", "ar")
        assert (await service.translate("Guten Tag", "de", "de")).text == "Guten Tag"
        assert not service.available
        assert service.status == "machine translation is switched off"
        assert service.down_since is None
    finally:
        service.close()


def test_an_unknown_provider_names_the_variable_and_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTSE_TRANSLATION", "Yandex")
    with pytest.raises(TranslationConfigError) as caught:
        MachineTranslation.from_settings(Settings())
    message = str(caught.value)
    assert "LOTSE_TRANSLATION='Yandex'" in message
    assert "none, libre, google, deepl, microsoft" in message


def test_settings_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "LOTSE_TRANSLATION",
        "LIBRETRANSLATE_URL",
        "LIBRETRANSLATE_API_KEY",
        "LOTSE_TRANSLATION_TIMEOUT",
        "DEEPL_FREE_API",
    ):
        monkeypatch.delenv(name, raising=False)
    default = Settings()
    assert default.translation_provider == "libre"
    assert default.libretranslate_url == "http://127.0.0.1:5000"
    assert default.translation_timeout == 8.0 and default.deepl_free_api is True
    monkeypatch.setenv("DEEPL_FREE_API", "false")
    monkeypatch.setenv("LOTSE_TRANSLATION_TIMEOUT", "2.5")
    assert Settings().deepl_free_api is False and Settings().translation_timeout == 2.5
    monkeypatch.setenv("DEEPL_FREE_API", "maybe")
    with pytest.raises(ValueError, match="DEEPL_FREE_API"):
        Settings()


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"translation_provider": "deepl"}, "DEEPL_API_KEY"),
        ({"translation_provider": "microsoft"}, "MICROSOFT_TRANSLATOR_KEY"),
        ({"translation_provider": "libre", "libretranslate_url": "127.0.0.1:5000"}, "LIBRETRANSLATE_URL"),
        ({"translation_provider": "libre", "translation_timeout": 0.0}, "LOTSE_TRANSLATION_TIMEOUT"),
    ],
)
def test_incomplete_settings_name_the_variable(values: dict[str, Any], variable: str) -> None:
    with pytest.raises(TranslationConfigError, match=variable):
        MachineTranslation.from_settings(settings(deepl_api_key="", microsoft_translator_key="", **values))


async def test_deepl_refuses_persian_before_any_request_and_stays_available() -> None:
    service = MachineTranslation.from_settings(settings(translation_provider="deepl", deepl_api_key="k"))
    try:
        with pytest.raises(TranslationRejected, match="deepl does not translate the language 'fa'"):
            await service.translate("روز بخیر", "fa", "de")
        assert service.available and service.provider_name == "deepl"
    finally:
        service.close()


def test_translation_imports_no_web_framework_chat_library_or_nlu() -> None:
    imported: set[str] = set()
    for path in (ROOT / "bot" / "translation").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    assert imported & {"starlette", "telegram", "rasa", "uvicorn"} == set()


# -- the fake itself ------------------------------------------------------------------------------


def test_the_fake_speaks_forms_lists_and_libretranslates_errors(fake: FakeLibreTranslate) -> None:
    with httpx.Client(base_url=fake.url) as http:
        form = http.post("/translate", data={"q": "Guten Tag", "source": "de", "target": "ar"})
        assert form.json() == {"translatedText": GOOD_DAY["ar"]}
        batch = http.post(
            "/translate", json={"q": [GOOD_DAY["fa"], "Привіт"], "source": "auto", "target": "de"}
        )
        assert batch.json() == {
            "translatedText": ["Guten Tag", "[auto→de] Привіт"],
            "detectedLanguage": [
                {"confidence": 90.0, "language": "fa"},
                {"confidence": 90.0, "language": "uk"},
            ],
        }
        missing = http.post("/translate", json={"q": "x", "target": "de"})
        assert (missing.status_code, missing.json()) == (
            400,
            {"error": "Invalid request: missing source parameter"},
        )
        too_long = http.post("/translate", json={"q": "x" * 5001, "source": "de", "target": "en"})
        assert too_long.json() == {"error": "Invalid request: request (5001) exceeds text limit (5000)"}


async def _eventually(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


async def _eventually_translated(
    service: MachineTranslation, text: str, source: str, target: str, timeout: float = 3.0
) -> Translation:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await service.translate(text, source, target)
        except TranslationUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)
