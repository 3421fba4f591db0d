"""Parsing with the trained model in plain numpy: the same answer as Rasa, without Rasa.

Rasa's agent imports TensorFlow and runs every message through its graph runner: seconds to start,
hundreds of megabytes, milliseconds per message. Lotse's pipeline is a linear model over sparse
counts, so a parse is: cut tokens and n-grams, look them up, add up a few weight rows, softmax.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.engine.understanding import EMPTY_PARSE, FALLBACK_INTENT, Entity, Parse
from bot.understanding.archive import read_archive
from bot.understanding.model import (
    Classifier,
    CountVectors,
    EntityPatterns,
    NluModel,
    RegexFeatures,
    Synonyms,
    build_model,
)
from bot.understanding.tokens import Token, counted_text, tokenize

Spans = list[tuple[int, int]]


class LinearUnderstanding:
    """Lotse's understanding: intent, ranking and entities from a Rasa-trained model archive."""

    def __init__(self, model: NluModel) -> None:
        self.model = model

    @classmethod
    def load(cls, model_path: Path) -> LinearUnderstanding:
        return cls(build_model(read_archive(model_path)))

    async def parse(self, text: str) -> Parse:
        return self.parse_text(text)

    def parse_text(self, text: str) -> Parse:
        text = text.strip()  # Rasa strips every incoming message before anything else
        if not text:
            return EMPTY_PARSE
        spans: dict[int, Spans] = {}  # a pattern's matches, shared by featurizer and extractor
        tokens = tokenize(text)
        indices, values = self._features(text, tokens, spans)
        ranking = _rank(self.model.classifier, indices, values)
        fallback = self.model.fallback
        top = ranking[0][1]
        uncertain = fallback is not None and (
            top < fallback.threshold
            or (len(ranking) >= 2 and top - ranking[1][1] < fallback.ambiguity_threshold)
        )
        real = tuple(item for item in ranking if item[0] != FALLBACK_INTENT)
        return Parse(
            intent=FALLBACK_INTENT if uncertain else ranking[0][0],
            confidence=real[0][1] if uncertain and real else top,
            ranking=real,
            entities=self._entities(text, spans),
        )

    def _features(
        self, text: str, tokens: list[Token], spans: dict[int, Spans]
    ) -> tuple[list[int], list[float]]:
        """The message's non-zero sentence features, each featurizer's block after the one before."""
        indices: list[int] = []
        values: list[float] = []
        offset = 0
        for featurizer in self.model.featurizers:
            if isinstance(featurizer, RegexFeatures):
                for j, pattern in enumerate(featurizer.patterns):
                    matches = _matches(pattern.regex, text, spans)
                    if any(t.start < end and t.end > start for start, end in matches for t in tokens):
                        indices.append(offset + j)
                        values.append(1.0)
            else:
                for j, count in _counts(featurizer, tokens).items():
                    indices.append(offset + j)
                    values.append(float(count))
            offset += featurizer.width
        return indices, values

    def _entities(self, text: str, spans: dict[int, Spans]) -> tuple[Entity, ...]:
        found: list[Entity] = []
        for step in self.model.entity_steps:
            if isinstance(step, EntityPatterns):
                for pattern in step.patterns:
                    found += [
                        Entity(pattern.name, text[start:end], text[start:end])
                        for start, end in _matches(pattern.regex, text, spans)
                    ]
            elif isinstance(step, Synonyms):
                found = [
                    Entity(e.entity, step.values.get(e.value.lower(), e.value), e.text) for e in found
                ]
        return tuple(found)


def _matches(regex: re.Pattern[str], text: str, spans: dict[int, Spans]) -> Spans:
    # by id: hashing a compiled pattern hashes its whole program, thousands of town names long
    found = spans.get(id(regex))
    if found is None:
        found = spans[id(regex)] = [match.span() for match in regex.finditer(text)]
    return found


def _counts(vectors: CountVectors, tokens: list[Token]) -> dict[int, int]:
    counts: dict[int, int] = {}
    vocabulary = vectors.vocabulary
    for gram in vectors.analyze(counted_text(tokens, vectors.lowercase)):
        j = vocabulary.get(gram)
        if j is not None:
            counts[j] = counts.get(j, 0) + 1
    return counts


def _rank(classifier: Classifier, indices: list[int], values: list[float]) -> list[tuple[str, float]]:
    """Intents by probability, highest first, ties in the classifier's order; cut to the ranking length."""
    scores = classifier.intercept.copy()
    if indices:
        scores += np.asarray(values) @ classifier.weights[np.asarray(indices)]
    probabilities = _probabilities(scores, classifier.multinomial)
    order = np.argsort(-probabilities, kind="stable")
    if classifier.ranking_length > 0:
        order = order[: classifier.ranking_length]
    return [(classifier.classes[i], float(probabilities[i])) for i in order]


def _probabilities(scores: npt.NDArray[np.float64], multinomial: bool) -> npt.NDArray[np.float64]:
    """scikit-learn's `predict_proba` of a logistic regression, from the decision scores."""
    if multinomial:
        if len(scores) == 1:  # two intents: the one score speaks for the second against the first
            scores = np.array([-scores[0], scores[0]])
        exp = np.exp(scores - scores.max())
        return exp / exp.sum()  # type: ignore[no-any-return]
    sigmoid = 1.0 / (1.0 + np.exp(-scores))
    if len(scores) == 1:
        return np.array([1.0 - sigmoid[0], sigmoid[0]])
    return sigmoid / sigmoid.sum()  # type: ignore[no-any-return]
