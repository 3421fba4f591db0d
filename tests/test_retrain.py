"""When `nlu/` changes while `lotse serve` runs, a new model is trained in the background and swapped in.

Trained on a small data set of its own (three intents), so that the two trainings take seconds
rather than the minutes of the full model; the retrainer, the training process and the swap are
the ones `lotse serve` uses.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from bot.app import load_understanding
from bot.config import Settings
from bot.engine.engine import Engine
from bot.i18n.catalogs import Catalogs
from bot.i18n.langid import LanguageIdentifier
from bot.knowledge.content import Content
from bot.live.editions import Editions
from bot.live.retrainer import ModelRetrainer
from bot.understanding.training import train
from tests.conftest import ROOT

SMALL_NLU = """version: "3.1"
nlu:
- intent: greet
  examples: |
    - hallo
    - guten tag
    - hallo zusammen
    - guten morgen
    - servus
    - moin
- intent: sports_offers
  examples: |
    - wo kann ich fußball spielen
    - gibt es einen sportverein
    - ich suche schwimmkurs
    - sport für frauen
    - basketball training wo
    - ich möchte sport machen
"""
THANKS = """- intent: thanks
  examples: |
    - danke
    - vielen dank
    - danke schön
    - dankeschön für die hilfe
    - herzlichen dank
    - danke für die antwort
"""


@pytest.mark.asyncio
async def test_changed_training_data_is_trained_and_swapped_in_while_serving(
    tmp_path: Path, content: Content, catalogs: Catalogs
) -> None:
    nlu = tmp_path / "nlu"
    nlu.mkdir()
    (nlu / "de.yml").write_text(SMALL_NLU, encoding="utf-8")
    settings = dataclasses.replace(
        Settings(), nlu_dir=nlu, model_path=tmp_path / "models" / "nlu.tar.gz", content_dir=ROOT / "content"
    )
    train(settings)
    old = load_understanding(settings)
    engine = Engine(
        Editions(content, catalogs), old, store=None, language_identifier=LanguageIdentifier.from_nlu(nlu)
    )  # type: ignore[arg-type]
    retrainer = ModelRetrainer(settings, engine, load_understanding)
    # another worker of `lotse serve --workers 2`: it never trains, it follows worker 0
    other = Engine(
        Editions(content, catalogs), old, store=None, language_identifier=LanguageIdentifier.from_nlu(nlu)
    )  # type: ignore[arg-type]
    follower = ModelRetrainer(settings, other, load_understanding, trains=False)

    assert await retrainer.check() is False  # the model is current: no training
    assert await retrainer.check() is False  # nothing changed since: not even a look at the hash
    assert await follower.check() is False
    assert (await old.parse("vielen dank für die hilfe")).intent != "thanks"

    (nlu / "de.yml").write_text(SMALL_NLU + THANKS, encoding="utf-8")
    assert await follower.check() is False  # no model for the new data yet, and it trains none
    assert other.understanding is old
    assert await retrainer.check() is True
    assert retrainer.swaps == 1 and retrainer.failed is None
    assert engine.understanding is not old
    assert (await engine.understanding.parse("vielen dank für die hilfe")).intent == "thanks"
    assert await follower.check() is True  # the trainer's model, loaded
    assert (await other.understanding.parse("vielen dank für die hilfe")).intent == "thanks"

    # broken training data: the training fails, the log says why, and the last model keeps answering
    serving = engine.understanding
    (nlu / "de.yml").write_text(SMALL_NLU + THANKS + "- intent: [broken\n", encoding="utf-8")
    assert await retrainer.check() is False
    assert retrainer.failed and engine.understanding is serving
    assert (await engine.understanding.parse("danke schön")).intent == "thanks"
    shutil.rmtree(tmp_path / "models")
