"""The keyword safety net for acute danger.

The classifier can be unsure about a message like "i cant anymore i want to end it"; the safety net
is not. It runs before understanding, over the phrases of all seven languages at once (people mix
languages in distress), and a hit gets the emergency answer first.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.normalise import for_matching

# The order decides which answer is shown when several categories match.
CATEGORY_ORDER: tuple[str, ...] = ("suicide", "violence", "medical", "fire")


@dataclass(frozen=True)
class SafetyHit:
    category: str
    phrase: str


class SafetyNet:
    def __init__(self, phrases: dict[str, dict[str, list[str]]]) -> None:
        merged: dict[str, set[str]] = {}
        for categories in phrases.values():
            for category, words in categories.items():
                merged.setdefault(category, set()).update(for_matching(w) for w in words if w.strip())
        self._phrases = {cat: tuple(sorted(words, key=len, reverse=True)) for cat, words in merged.items()}

    def check(self, text: str) -> SafetyHit | None:
        folded = f" {for_matching(text)} "
        ordered = [c for c in CATEGORY_ORDER if c in self._phrases]
        ordered += [c for c in self._phrases if c not in CATEGORY_ORDER]
        for category in ordered:
            for phrase in self._phrases[category]:
                if phrase and phrase in folded:
                    return SafetyHit(category, phrase)
        return None
