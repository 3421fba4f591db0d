"""Lotse reads the Rasa-trained model itself and understands every message exactly as Rasa does.

The oracle is Rasa's own parse of the same archive (tests/rasa_oracle.py). If the two ever differ,
refugees get other answers than the model was trained and evaluated to give.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import load_understanding
from bot.config import Settings
from bot.engine.understanding import FALLBACK_INTENT, Parse, Understanding
from bot.knowledge.content import Content
from bot.understanding.errors import UnderstandingError
from bot.understanding.examples import strip_annotations
from bot.understanding.tokens import analyzer
from tests.conftest import ROOT
from tests.rasa_oracle import RasaUnderstanding

pytestmark = pytest.mark.model

LANGS = ("de", "en", "ar", "fa", "uk", "ru", "tr")
ODD_INPUTS = (
    "", " ", "\n\t ", ".", "?!", "...", "-- ? --", ":)", ";-)", "#", "@lotse", "&",
    "😀", "👍👍", "🙏 danke", "❤️", "hallo 😀😀 kita", "🇩🇪",
    "مرحبا hello Kita", "سلام Reutlingen kita", "Kita فيMetzingen", "می‌خواهم کلاس آلمانی", "привет Kita",
    "12345", "0711 123456", "2026", "1 2 3", "10'000.00", "3-jährig", "mein kind ist 4",
    "ÜBER DIE KITA IN MÜNSINGEN", "STRASSE", "FUẞBALL IN PFULLINGEN", "GRÜẞ GOTT", "ÄÖÜ äöü ß",
    "Ich wohne in Metzingen, aber arbeite in Reutlingen", "Metzingen oder Pfullingen?",
    "Fußball am Montag", "football on friday", "كرة قدم يوم الاثنين", "basketbol cuma",
    "schwimmen dienstag", "yoga am wochenende", "бокс в понедельник",
    "mail@example.org", "http://example.org/?a=1&b=2", "a.b.c", "(Kita)", "[Metzingen](municipality)",
    "Banane", "qwertz", "Kita oder Fußball", "hmm",
    "x" * 1000, ("Wie bekomme ich einen Kitaplatz in Reutlingen? " * 25)[:1000],
)  # fmt: skip


def training_examples(lang: str) -> list[str]:
    data = yaml.safe_load((ROOT / "nlu" / f"{lang}.yml").read_text(encoding="utf-8"))
    return [
        strip_annotations(line[2:].strip())
        for block in data["nlu"]
        if "intent" in block
        for line in block["examples"].splitlines()
        if line.startswith("- ")
    ]


def synonym_texts() -> list[str]:
    """Every spelling of a sport, weekday or language that the synonym tables map."""
    texts = []
    for lang in LANGS:
        data = yaml.safe_load((ROOT / "nlu" / f"{lang}.yml").read_text(encoding="utf-8"))
        for block in data["nlu"]:
            if "synonym" in block:
                texts += [line[2:].strip() for line in block["examples"].splitlines() if line.startswith("- ")]
    return texts


@pytest.fixture(scope="module")
def oracle(understanding: Understanding, settings: Settings) -> RasaUnderstanding:
    """Rasa's parse of the same archive (trained by then); loading takes seconds, so once per module."""
    return RasaUnderstanding.load(settings.model_path)


def differences(ours: Parse, rasa: Parse) -> list[str]:
    found = []
    if ours.intent != rasa.intent:
        found.append(f"intent {ours.intent} != {rasa.intent}")
    if abs(ours.confidence - rasa.confidence) > 1e-6:
        found.append(f"confidence {ours.confidence} != {rasa.confidence}")
    if [name for name, _ in ours.ranking] != [name for name, _ in rasa.ranking]:
        found.append(f"ranking {ours.ranking} != {rasa.ranking}")
    elif any(abs(a - b) > 1e-6 for (_, a), (_, b) in zip(ours.ranking, rasa.ranking, strict=True)):
        found.append(f"ranking confidences {ours.ranking} != {rasa.ranking}")
    if ours.entities != rasa.entities:
        found.append(f"entities {ours.entities} != {rasa.entities}")
    return found


async def assert_same(
    texts: list[str], understanding: Understanding, oracle: RasaUnderstanding
) -> list[Parse]:
    failures, parses = [], []
    for text in texts:
        parses.append(await understanding.parse(text))
        problems = differences(parses[-1], await oracle.parse(text))
        if problems:
            failures.append(f"{text!r}: {'; '.join(problems)}")
    assert not failures, f"{len(failures)} of {len(texts)} differ from Rasa:\n" + "\n".join(failures[:10])
    return parses


@pytest.mark.parametrize("lang", LANGS)
async def test_every_training_example_is_understood_as_rasa_does(
    lang: str, understanding: Understanding, oracle: RasaUnderstanding
) -> None:
    # "/start" is an example, but Rasa reads a leading "/" as its intent shortcut (see below)
    texts = [text for text in training_examples(lang) if not text.startswith("/")]
    assert len(texts) > 400
    await assert_same(texts, understanding, oracle)


async def test_odd_inputs_towns_and_synonyms_are_understood_as_rasa_does(
    understanding: Understanding, oracle: RasaUnderstanding, content: Content
) -> None:
    towns = content.town_names()
    texts = [*ODD_INPUTS, *towns, *(f"Kita in {town}" for town in towns), *synonym_texts()]
    parses = await assert_same(texts, understanding, oracle)
    # the fallback rule was exercised: unsure below the threshold and between two close intents
    assert sum(parse.intent == FALLBACK_INTENT and parse.confidence > 0 for parse in parses) >= 2
    two_towns = await understanding.parse("Ich wohne in Metzingen, aber arbeite in Reutlingen")
    assert [e.value for e in two_towns.entities if e.entity == "municipality"] == ["Metzingen", "Reutlingen"]


async def test_a_slash_is_read_as_text_not_as_rasas_intent_shortcut(understanding: Understanding) -> None:
    """Rasa reads "/human_handoff" as that intent at confidence 1.0; Lotse reads the words.

    The engine never sends commands (text starting with "/") to the understanding, and no user
    should be able to name an intent and its confidence.
    """
    parse = await understanding.parse("/emergency@1.0")
    assert parse.confidence < 1.0
    assert len(parse.ranking) > 1


def test_serving_loads_and_parses_without_rasa_or_tensorflow(settings: Settings) -> None:
    script = (
        "import asyncio, json, sys\n"
        "from bot.app import load_understanding\n"
        "from bot.config import Settings\n"
        "parse = asyncio.run(load_understanding(Settings()).parse('Wann hat die Beratung in Metzingen offen?'))\n"
        "print(json.dumps({'intent': parse.intent, 'town': parse.entity('municipality').value,\n"
        "    'loaded': sorted({m.split('.')[0] for m in sys.modules} & {'rasa', 'tensorflow'})}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"intent": "counselling_hours", "town": "Metzingen", "loaded": []}


def test_a_missing_model_says_to_train(tmp_path: Path) -> None:
    path = tmp_path / "nlu.tar.gz"
    with pytest.raises(UnderstandingError, match="run 'lotse train'") as raised:
        load_understanding(Settings(model_path=path))
    assert str(path) in str(raised.value)


def _archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a model at all\n" * 100,
        _archive({"README.md": b"# some other project\n"}),
        _archive({"metadata.json": b"{not json"}),
        _archive({"metadata.json": b'{"rasa_open_source_version": "3.6.21"}'}),
    ],
    ids=["empty", "text", "foreign-tar", "bad-metadata", "no-graph"],
)
def test_a_foreign_or_corrupt_archive_names_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "nlu.tar.gz"
    path.write_bytes(content)
    with pytest.raises(UnderstandingError) as raised:
        load_understanding(Settings(model_path=path))
    assert str(path) in str(raised.value)


def test_a_truncated_model_names_the_file(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "nlu.tar.gz"
    path.write_bytes(settings.model_path.read_bytes()[:1_000_000])
    with pytest.raises(UnderstandingError) as raised:
        load_understanding(Settings(model_path=path))
    assert str(path) in str(raised.value)


def _component(metadata: dict[str, Any], name: str) -> dict[str, Any]:
    nodes: dict[str, Any] = metadata["predict_schema"]["nodes"]
    return next(node for node in nodes.values() if node["uses"].endswith("." + name))


def _diet(metadata: dict[str, Any]) -> None:
    _component(metadata, "LogisticRegressionClassifier")["uses"] = (
        "rasa.nlu.classifiers.diet_classifier.DIETClassifier"
    )


def _oov_token(metadata: dict[str, Any]) -> None:
    _component(metadata, "CountVectorsFeaturizer")["config"]["OOV_token"] = "oov"


def _other_rasa(metadata: dict[str, Any]) -> None:
    metadata["rasa_open_source_version"] = "3.7.0"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (_diet, "DIETClassifier"),
        (_oov_token, "CountVectorsFeaturizer is configured with OOV_token"),
        (_other_rasa, "Rasa 3.7.0"),
    ],
    ids=["other-classifier", "unsupported-option", "other-rasa"],
)
def test_a_model_of_another_pipeline_is_refused_with_the_component_and_a_retrain_hint(
    tmp_path: Path, settings: Settings, change: Callable[[dict[str, Any]], None], named: str
) -> None:
    members: dict[str, bytes] = {}
    with tarfile.open(settings.model_path, mode="r:gz") as tar:
        for member in tar:
            stream = tar.extractfile(member) if member.isfile() else None
            if stream is not None:
                members[member.name] = stream.read()
    metadata = json.loads(members["metadata.json"])
    change(metadata)
    members["metadata.json"] = json.dumps(metadata).encode()
    path = tmp_path / "nlu.tar.gz"
    path.write_bytes(_archive(members))
    with pytest.raises(UnderstandingError) as raised:
        load_understanding(Settings(model_path=path))
    assert str(path) in str(raised.value)
    assert named in str(raised.value)
    assert "retrain" in str(raised.value)


@pytest.mark.parametrize("kind", ["word", "char_wb", "char"])
def test_n_grams_are_cut_as_scikit_learn_cuts_them(kind: str) -> None:
    """An operator may switch the analyzer in config.yml; the cut must stay scikit-learn's."""
    from sklearn.feature_extraction.text import CountVectorizer

    texts = [*ODD_INPUTS, "  zwei  leerzeichen\tund\ttabs  ", "a", "ab cd", "Wörter ÄÖÜ ẞ"]
    for min_n, max_n in ((1, 1), (1, 2), (2, 5), (3, 3)):
        theirs = CountVectorizer(
            analyzer=kind, ngram_range=(min_n, max_n), lowercase=True, token_pattern=r"(?u)\b\w+\b"
        ).build_analyzer()
        ours = analyzer(kind, min_n, max_n, lowercase=True)
        for text in texts:
            assert ours(text) == theirs(text), (kind, min_n, max_n, text)
