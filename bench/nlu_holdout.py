"""Intent accuracy on the independent held-out set in tests/data/holdout (never used for training).

    .venv/bin/python bench/nlu_holdout.py [--errors]

Prints macro-F1 per language and overall, and (with --errors) every misclassified message.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
from pathlib import Path

import yaml

from bot.app import load_understanding
from bot.config import PROJECT_ROOT, Settings
from bot.engine.understanding import FALLBACK_INTENT, Parse

HOLDOUT = PROJECT_ROOT / "tests" / "data" / "holdout"


def load(path: Path) -> list[tuple[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        (line[2:].strip(), block["intent"])
        for block in data["nlu"]
        if "intent" in block
        for line in block["examples"].splitlines()
        if line.startswith("- ")
    ]


def predicted(parse: Parse) -> str:
    """The intent the engine acts on: the top ranking even below the fallback threshold."""
    if parse.intent == FALLBACK_INTENT and parse.ranking:
        return parse.ranking[0][0]
    return parse.intent


def macro_f1(pairs: list[tuple[str, str]]) -> float:
    """Macro-F1 over the gold intents, from (gold, predicted) pairs."""
    from sklearn.metrics import f1_score

    gold = [g for g, _ in pairs]
    return float(
        f1_score(gold, [p for _, p in pairs], labels=sorted(set(gold)), average="macro", zero_division=0)
    )


async def evaluate(show_errors: bool) -> dict[str, float]:
    nlu = load_understanding(Settings())
    per_lang: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for path in sorted(HOLDOUT.glob("*.yml")):
        for text, gold in load(path):
            guess = predicted(await nlu.parse(text))
            per_lang[path.stem].append((gold, guess))
            if show_errors and guess != gold:
                print(f"{path.stem}  {gold:<24} -> {guess:<24} {text}")
    result = {lang: macro_f1(pairs) for lang, pairs in per_lang.items()}
    result["all"] = macro_f1([p for pairs in per_lang.values() for p in pairs])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--errors", action="store_true")
    args = parser.parse_args()
    scores = asyncio.run(evaluate(args.errors))
    print("macro-F1  " + "  ".join(f"{lang} {score:.3f}" for lang, score in scores.items()))


if __name__ == "__main__":
    main()
