"""The trained model generalises to messages written independently of the training data.

tests/data/holdout was written without looking at nlu/ and is never used for training. A drop
below these floors means a change to nlu/ or config.yml made refugees' questions land on the
wrong answer more often.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.understanding import Understanding
from tests.conftest import ROOT

HOLDOUT = ROOT / "tests" / "data" / "holdout"


async def test_holdout_macro_f1(understanding: Understanding) -> None:
    import sys

    sys.path.insert(0, str(ROOT))
    from bench.nlu_holdout import load, macro_f1, predicted

    per_lang: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(Path(HOLDOUT).glob("*.yml")):
        per_lang[path.stem] = [
            (gold, predicted(await understanding.parse(text))) for text, gold in load(path)
        ]
    assert len(per_lang) == 7
    overall = macro_f1([pair for pairs in per_lang.values() for pair in pairs])
    assert overall >= 0.9, f"overall macro-F1 {overall:.3f}"
    for lang, pairs in per_lang.items():
        score = macro_f1(pairs)
        if score < 0.85:
            pytest.fail(f"{lang}: macro-F1 {score:.3f} below 0.85")
