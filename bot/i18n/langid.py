"""Which of our seven languages a message is written in.

A small naive Bayes model over character n-grams, trained at start-up from the NLU examples in
`nlu/<lang>.yml` (the file name is the label). It is tiny, needs no download, and learns the
colloquial and Latin-script forms the NLU data already covers. Short or ambiguous messages ("ok",
"👍", a town name) return None so that the conversation keeps its language.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from pathlib import Path

import yaml

from bot.understanding.examples import strip_annotations

_EXAMPLE = re.compile(r"^\s*-\s+(.*)$")
_ORDERS = (1, 2, 3)


def _clean(text: str) -> str:
    text = strip_annotations(text)
    return " ".join(unicodedata.normalize("NFC", text.casefold()).split())


def _grams(text: str) -> Counter[str]:
    padded = f" {text} "
    grams: Counter[str] = Counter()
    for n in _ORDERS:
        for i in range(len(padded) - n + 1):
            gram = padded[i : i + n]
            if gram.strip() and not any(ch.isdigit() for ch in gram):
                grams[gram] += 1
    return grams


class LanguageIdentifier:
    """Multinomial naive Bayes on character 1- to 3-grams."""

    def __init__(self, counts: dict[str, Counter[str]]) -> None:
        self.languages = sorted(counts)
        vocabulary = set().union(*counts.values()) if counts else set()
        self._v = len(vocabulary) + 1
        self._totals = {lang: sum(c.values()) for lang, c in counts.items()}
        self._counts = counts
        self._prior = math.log(1 / max(len(counts), 1))

    @classmethod
    def from_nlu(cls, nlu_dir: Path) -> LanguageIdentifier:
        counts: dict[str, Counter[str]] = {}
        for path in sorted(nlu_dir.glob("*.yml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            grams: Counter[str] = Counter()
            for block in data.get("nlu", []):
                if "intent" not in block:
                    continue
                for line in str(block.get("examples", "")).splitlines():
                    match = _EXAMPLE.match(line)
                    if match:
                        grams.update(_grams(_clean(match.group(1))))
            if grams:
                counts[path.stem] = grams
        return cls(counts)

    def scores(self, text: str) -> dict[str, float]:
        grams = _grams(_clean(text))
        result = {}
        for lang in self.languages:
            counts, total = self._counts[lang], self._totals[lang] + self._v
            result[lang] = self._prior + sum(
                n * math.log((counts.get(g, 0) + 1) / total) for g, n in grams.items()
            )
        return result

    def identify(self, text: str, min_letters: int = 4, margin: float = 2.0) -> str | None:
        """The language, or None when the text is too short or the evidence too close to call."""
        letters = sum(1 for ch in text if ch.isalpha())
        if letters < min_letters or not self.languages:
            return None
        if len(text.split()) < 2 and letters < 12:
            return None  # one word (a town, "Kita", "ok") says little about the language
        ranked = sorted(self.scores(text).items(), key=lambda item: item[1], reverse=True)
        if len(ranked) > 1 and ranked[0][1] - ranked[1][1] < margin:
            return None
        return ranked[0][0]
