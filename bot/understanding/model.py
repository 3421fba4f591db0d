"""The trained pipeline as plain objects: patterns, vocabularies, weights and thresholds.

Only the components of Lotse's `config.yml` are understood, each with the options that change what
it computes at prediction time. Anything else (another classifier, a spaCy featurizer, an option
such as `OOV_token`) is refused by name: guessing would answer wrongly without anyone noticing.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.understanding.archive import RETRAIN, Archive, Node
from bot.understanding.errors import UnderstandingError
from bot.understanding.tokens import Analyzer, analyzer
from bot.understanding.weights import read_logistic_regression

_RASA = "rasa.nlu."
CONVERTER = "rasa.graph_components.converters.nlu_message_converter.NLUMessageConverter"
TOKENIZER = _RASA + "tokenizers.whitespace_tokenizer.WhitespaceTokenizer"
REGEX_FEATURIZER = _RASA + "featurizers.sparse_featurizer.regex_featurizer.RegexFeaturizer"
COUNT_VECTORS = _RASA + "featurizers.sparse_featurizer.count_vectors_featurizer.CountVectorsFeaturizer"
LOGISTIC_REGRESSION = _RASA + "classifiers.logistic_regression_classifier.LogisticRegressionClassifier"
REGEX_ENTITIES = _RASA + "extractors.regex_entity_extractor.RegexEntityExtractor"
SYNONYMS = _RASA + "extractors.entity_synonyms.EntitySynonymMapper"
FALLBACK = _RASA + "classifiers.fallback_classifier.FallbackClassifier"
# Rasa's `/intent{"entity": ...}` shortcut for testing bots. Lotse never passes a text starting
# with "/" to the understanding (those are commands), and a user must not be able to name an
# intent and its confidence; so the step is accepted and deliberately not reproduced.
REGEX_MESSAGE_HANDLER = _RASA + "classifiers.regex_message_handler.RegexMessageHandler"

SUPPORTED = (
    "WhitespaceTokenizer, RegexFeaturizer, CountVectorsFeaturizer, LogisticRegressionClassifier, "
    "RegexEntityExtractor, EntitySynonymMapper, FallbackClassifier"
)


@dataclass(frozen=True)
class Pattern:
    name: str
    regex: re.Pattern[str]


@dataclass(frozen=True)
class RegexFeatures:
    """One feature per pattern: 1 when the pattern matches text that overlaps a token."""

    patterns: tuple[Pattern, ...]

    @property
    def width(self) -> int:
        return len(self.patterns)


@dataclass(frozen=True)
class CountVectors:
    """Counts of the vocabulary's n-grams in the message."""

    analyze: Analyzer
    lowercase: bool
    vocabulary: dict[str, int]

    @property
    def width(self) -> int:
        return len(self.vocabulary)


@dataclass(frozen=True)
class Classifier:
    classes: tuple[str, ...]
    # features x scores, C order: the rows of a message's few n-grams are gathered and summed
    # without touching the rest (the Fortran-ordered `coef_` of the Rasa adapter, by another name)
    weights: npt.NDArray[np.float64]
    intercept: npt.NDArray[np.float64]
    multinomial: bool
    ranking_length: int


@dataclass(frozen=True)
class EntityPatterns:
    patterns: tuple[Pattern, ...]


@dataclass(frozen=True)
class Synonyms:
    values: dict[str, str]  # lower-cased text -> canonical value


@dataclass(frozen=True)
class Fallback:
    threshold: float
    ambiguity_threshold: float


@dataclass(frozen=True)
class NluModel:
    featurizers: tuple[RegexFeatures | CountVectors, ...]  # in the order their features are joined
    classifier: Classifier
    entity_steps: tuple[EntityPatterns | Synonyms, ...]
    fallback: Fallback | None


def build_model(archive: Archive) -> NluModel:
    """Check every step of the archive's pipeline and turn it into the objects a parse needs."""
    builder = _Builder(archive)
    for node in archive.nodes:
        builder.add(node)
    return builder.finish()


class _Builder:
    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.tokenized = False
        self.featurizers: list[RegexFeatures | CountVectors] = []
        self.classifier: Classifier | None = None
        self.entity_steps: list[EntityPatterns | Synonyms] = []
        self.fallback: Fallback | None = None
        self._compiled: dict[tuple[str, int], re.Pattern[str]] = {}

    def fail(self, node: Node, problem: str) -> UnderstandingError:
        return UnderstandingError(f"{self.archive.path}: {node.component} {problem}")

    def add(self, node: Node) -> None:
        config = node.config
        if node.uses in (CONVERTER, REGEX_MESSAGE_HANDLER):
            return
        if node.uses == TOKENIZER:
            if config.get("token_pattern"):
                raise self.unsupported_option(node, "token_pattern")
            self.tokenized = True
        elif node.uses in (REGEX_FEATURIZER, COUNT_VECTORS):
            if not self.tokenized:
                raise self.fail(node, f"runs before the tokenizer; use config.yml's pipeline and {RETRAIN}")
            if self.classifier is None:  # features made after the classifier ran do not count
                self.featurizers.append(
                    self.count_vectors(node)
                    if node.uses == COUNT_VECTORS
                    else RegexFeatures(self.patterns(node, "patterns.json", config.get("case_sensitive", True)))
                )
        elif node.uses == LOGISTIC_REGRESSION:
            if self.classifier is not None:
                raise self.fail(node, f"appears twice; use config.yml's pipeline and {RETRAIN}")
            self.classifier = self.logistic_regression(node)
        elif node.uses == REGEX_ENTITIES:
            patterns = self.patterns(node, "regex.json", config.get("case_sensitive", False))
            self.entity_steps.append(EntityPatterns(patterns))
        elif node.uses == SYNONYMS:
            self.entity_steps.append(Synonyms(self.synonyms(node)))
        elif node.uses == FALLBACK:
            if self.classifier is None:
                raise self.fail(node, f"runs before the intent classifier; use config.yml's pipeline and {RETRAIN}")
            self.fallback = Fallback(
                float(config.get("threshold", 0.3)), float(config.get("ambiguity_threshold", 0.1))
            )
        else:
            raise self.unsupported(node)

    def finish(self) -> NluModel:
        if self.classifier is None:
            raise UnderstandingError(
                f"{self.archive.path} has no LogisticRegressionClassifier, so it cannot tell intents; "
                f"use config.yml's pipeline and {RETRAIN}"
            )
        width = sum(f.width for f in self.featurizers)
        if width != self.classifier.weights.shape[0]:
            raise UnderstandingError(
                f"{self.archive.path} is inconsistent: its featurizers give {width} features, its "
                f"classifier weighs {self.classifier.weights.shape[0]}; {RETRAIN}"
            )
        return NluModel(tuple(self.featurizers), self.classifier, tuple(self.entity_steps), self.fallback)

    def unsupported(self, node: Node) -> UnderstandingError:
        return UnderstandingError(
            f"{self.archive.path} was trained with the component {node.component} ({node.uses}), "
            f"which Lotse's NLU does not run (it runs {SUPPORTED}); use config.yml's pipeline and {RETRAIN}"
        )

    def unsupported_option(self, node: Node, option: str) -> UnderstandingError:
        return self.fail(
            node,
            f"is configured with {option}={node.config.get(option)!r}, which Lotse's NLU does not "
            f"implement; remove it from config.yml and {RETRAIN}",
        )

    def json_file(self, node: Node, name: str) -> Any:
        """The stored JSON file, or None when the component stored none (nothing learnt)."""
        data = node.files.get(name)
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError as exc:
            raise self.fail(node, f"has a corrupt {name} ({exc}); {RETRAIN}") from exc

    def patterns(self, node: Node, name: str, case_sensitive: object) -> tuple[Pattern, ...]:
        stored = self.json_file(node, name) or []
        flags = 0 if case_sensitive else re.IGNORECASE
        try:
            return tuple(Pattern(str(p["name"]), self.compile(str(p["pattern"]), flags)) for p in stored)
        except (TypeError, KeyError, re.error) as exc:
            raise self.fail(node, f"has unusable patterns in {name} ({exc}); {RETRAIN}") from exc

    def compile(self, pattern: str, flags: int) -> re.Pattern[str]:
        """One compiled object per pattern, so that featurizer and extractor share its matches."""
        key = (pattern, flags)
        if key not in self._compiled:
            self._compiled[key] = re.compile(pattern, flags)
        return self._compiled[key]

    def count_vectors(self, node: Node) -> CountVectors:
        config = node.config
        kind = config.get("analyzer", "word")
        if kind not in ("word", "char_wb", "char"):
            raise self.unsupported_option(node, "analyzer")
        for option in ("use_shared_vocab", "strip_accents") + (("stop_words", "OOV_token") if kind == "word" else ()):
            if config.get(option):
                raise self.unsupported_option(node, option)
        lowercase = bool(config.get("lowercase", True))
        min_n, max_n = int(config.get("min_ngram", 1)), int(config.get("max_ngram", 1))
        stored = self.json_file(node, "vocabularies.json") or {}
        vocabulary = stored.get("text") if isinstance(stored, dict) else None
        vocabulary = {str(k): int(v) for k, v in (vocabulary or {}).items()}
        if sorted(vocabulary.values()) != list(range(len(vocabulary))):
            raise self.fail(node, f"has a corrupt vocabulary (indices are not 0..n-1); {RETRAIN}")
        return CountVectors(analyzer(kind, min_n, max_n, lowercase), lowercase, vocabulary)

    def logistic_regression(self, node: Node) -> Classifier:
        name = f"{node.resource}.skops"
        data = node.files.get(name)
        if data is None:
            raise self.fail(node, f"has no stored weights ({name} missing); {RETRAIN}")
        try:
            weights = read_logistic_regression(data, f"{self.archive.path}: {name}")
        except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile) as exc:
            raise self.fail(node, f"has unreadable weights in {name} ({exc}); {RETRAIN}") from exc
        return Classifier(
            classes=weights.classes,
            weights=np.ascontiguousarray(weights.coef.T),
            intercept=weights.intercept,
            multinomial=weights.multinomial,
            ranking_length=int(node.config.get("ranking_length", 10)),
        )

    def synonyms(self, node: Node) -> dict[str, str]:
        stored = self.json_file(node, "synonyms.json") or {}
        if not isinstance(stored, dict):
            raise self.fail(node, f"has a corrupt synonyms.json; {RETRAIN}")
        return {str(k): str(v) for k, v in stored.items()}
