"""Grouping the questions Lotse did not understand, so that editors see what to write next.

Refugees ask the same thing in many spellings ("كيف أسجل ابني في الروضة؟", "كيف اسجل ابني في الروضه"),
so the console groups questions per language by how similar they look: two texts are similar
when the sets of their words' character trigrams overlap enough (Jaccard index). Trigrams survive
typos, missing hamzas, a changed word ending and (taken word by word) a different word order;
they need no word lists in seven languages and nothing to install.

The grouping is greedy and deterministic: distinct texts, most frequent first, each join the
group whose first text (its leader) they resemble most, or start a new group. Comparing with the
leader only, rather than with every member, keeps a group from drifting step by step from
"Kita anmelden" to something unrelated.

Threshold: 0.6, measured on questions like those Lotse gets. Variants of one question score above
it: with a typo and no punctuation 0.88 ("Wo bekomme ich eine Steuer-ID?" / "wo bekome ich eine
steuer id"), with more words 0.73 ("كيف أسجل ابني في الروضة؟" / "كيف يمكنني أن أسجل ابني في الروضة؟"),
reordered 0.67 ("Wie beantrage ich Kindergeld?" / "Kindergeld beantragen"), written apart 0.80
("گواهینامه" / "گواهی نامه"). Different needs in the same words score below it: "Wie finde ich eine
Wohnung?" / "Wie finde ich einen Job?" 0.52, "… Kindergeld?" / "… Elterngeld?" 0.56, "Wo ist die
Kita?" / "Wann ist die Kita offen?" 0.48. At 0.5 the first two pairs would merge, and one need
would hide behind another; splitting a need in two is the milder error, since an editor sees both
rows. tests/test_console_editor.py holds both sides of the line.

Phone numbers, e-mail addresses and long digit runs are masked before grouping and display: the
editors need the question, not the person, and "call me on 0176…" groups with "call me on 0151…".
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from bot.engine.normalise import clean, digits_to_ascii, for_matching

THRESHOLD = 0.6
EXAMPLES = 3
MAX_SHOWN = 300  # characters of a question shown in the console
_EMAIL = re.compile(r"\S+@\S+\.\w+")
_DIGIT_RUN = re.compile(r"\+?\d[\d\s\-/().]{4,}\d")
_NOT_WORD = re.compile(r"[^\w]+")
_FOLD = str.maketrans({"ı": "i"})  # Turkish dotless i, typed as "i" on most keyboards abroad


class Question(Protocol):
    """A question as storage returns it (bot.storage.fallbacks.Unanswered fits)."""

    @property
    def text(self) -> str: ...
    @property
    def language(self) -> str | None: ...
    @property
    def created_at(self) -> dt.datetime: ...


@dataclass(frozen=True)
class Group:
    """Similar questions in one language: how often, a representative text, and a few others."""

    count: int
    representative: str
    examples: tuple[str, ...]
    last_asked: dt.datetime


@dataclass(frozen=True)
class LanguageGroups:
    language: str | None
    count: int
    groups: tuple[Group, ...]


def redact(text: str) -> str:
    """The text with e-mail addresses and numbers of six digits or more masked, cut for display."""
    text = _EMAIL.sub("[E-Mail]", clean(text))

    def number(match: re.Match[str]) -> str:
        digits = sum(ch.isdigit() for ch in match.group(0))
        return "[Nummer]" if digits >= 6 else match.group(0)

    text = _DIGIT_RUN.sub(number, text)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def normalise(text: str) -> str:
    """What similarity looks at: folded case and script variants, no accents, punctuation or extra space."""
    folded = digits_to_ascii(for_matching(text))
    # drop combining marks: Arabic short vowels and German umlaut dots should not count as differences
    bare = "".join(ch for ch in unicodedata.normalize("NFD", folded) if not unicodedata.combining(ch))
    return _NOT_WORD.sub(" ", bare.translate(_FOLD)).strip()


def trigrams(normalised: str) -> frozenset[str]:
    """The character trigrams of each word, padded with a space on either side ("kita" -> " ki" ... "ta ")."""
    grams: set[str] = set()
    for word in normalised.split():
        padded = f" {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return frozenset(grams)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@dataclass
class _Cluster:
    leader: frozenset[str]
    shown: Counter[str]
    last_asked: dt.datetime

    def group(self, examples: int) -> Group:
        ordered = sorted(self.shown.items(), key=lambda item: (-item[1], len(item[0]), item[0]))
        return Group(
            count=sum(self.shown.values()),
            representative=ordered[0][0],
            examples=tuple(text for text, _count in ordered[1 : 1 + examples]),
            last_asked=self.last_asked,
        )


def _cluster(questions: list[tuple[str, str, dt.datetime]], threshold: float) -> list[_Cluster]:
    """Greedy leader clustering of (normalised, shown, asked at) in one language."""
    by_key: dict[str, list[tuple[str, dt.datetime]]] = defaultdict(list)
    for key, shown, asked in questions:
        by_key[key].append((shown, asked))
    clusters: list[_Cluster] = []
    # trigram -> the clusters whose leader has it, in ascending order: counting a text's shared
    # trigrams through these lists touches only clusters it overlaps with, and needs no set algebra
    index: dict[str, list[int]] = defaultdict(list)
    for key in sorted(by_key, key=lambda k: (-len(by_key[k]), k)):
        grams = trigrams(key)
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(index.get(gram, ()))
        best, best_score = None, 0.0
        for number in sorted(shared):  # ascending: of equally similar groups, the older one wins
            common = shared[number]
            score = common / (len(grams) + len(clusters[number].leader) - common)  # Jaccard
            if score > best_score:
                best, best_score = number, score
        items = by_key[key]
        latest = max(asked for _shown, asked in items)
        if best is None or best_score < threshold:
            clusters.append(_Cluster(grams, Counter(shown for shown, _asked in items), latest))
            for gram in grams:
                index[gram].append(len(clusters) - 1)
        else:
            cluster = clusters[best]
            cluster.shown.update(shown for shown, _asked in items)
            cluster.last_asked = max(cluster.last_asked, latest)
    return clusters


def group_questions(
    questions: Iterable[Question], threshold: float = THRESHOLD, examples: int = EXAMPLES
) -> list[LanguageGroups]:
    """Per language (most questions first), groups of similar questions, largest first."""
    per_language: dict[str | None, list[tuple[str, str, dt.datetime]]] = defaultdict(list)
    for question in questions:
        shown = redact(question.text)
        key = normalise(shown)
        if key:
            per_language[question.language].append((key, shown, question.created_at))
    result = []
    for language, items in per_language.items():
        groups = sorted(
            (cluster.group(examples) for cluster in _cluster(items, threshold)),
            key=lambda g: (-g.count, -g.last_asked.timestamp(), g.representative),
        )
        result.append(LanguageGroups(language, len(items), tuple(groups)))
    return sorted(result, key=lambda lg: (-lg.count, lg.language or ""))
