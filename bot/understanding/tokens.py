"""Splitting a message into tokens and n-grams exactly as the trained model saw its examples.

The classifier's weights belong to n-grams cut by Rasa 3.6's `WhitespaceTokenizer` and scikit-learn's
`CountVectorizer` analyzers; one character cut differently is a feature the model never weighted. So
these rules are theirs, character for character, and the parity test compares them with Rasa's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# `regex`, not `re`: its \w also covers combining marks and the zero-width (non-)joiner, which
# Arabic and Persian words contain; Rasa's tokenizer uses it for that reason.
import regex  # type: ignore[import-untyped,unused-ignore]

_PUNCTUATION = regex.compile(
    # punctuation before a space or the end
    r"[^\w#@&]+(?=\s|$)|"
    # punctuation after a space or the start, unless a number follows
    r"(\s|^)[^\w#@&]+(?=[^0-9\s])|"
    # inside a word, except what numbers, e-mail addresses and web addresses are made of
    r"(?<=[^0-9\s])[^\w._~:/?#\[\]()@!$&*+,;=-]+(?=[^0-9\s])"
)
_EMOJI = re.compile(
    "["
    "\U0001f600-\U0001f64f"
    "\U0001f300-\U0001f5ff"
    "\U0001f680-\U0001f6ff"
    "\U0001f1e0-\U0001f1ff"
    "\U00002702-\U000027b0"
    "\U000024c2-\U0001f251"
    "\u200d"
    "\u200c"
    "]+"
)
_DIGITS = re.compile(r"\b[0-9]+\b")
_WORD = re.compile(r"(?u)\b\w+\b")
_WHITE_SPACES = re.compile(r"\s\s+")


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Words with their offsets; a text of nothing but punctuation or emoji is one token."""
    words = [w for w in _PUNCTUATION.sub(" ", text).split() if not _EMOJI.fullmatch(w)]
    if not words:
        words = [text]
    tokens = []
    offset = 0
    for word in words:
        start = text.index(word, offset)
        offset = start + len(word)
        tokens.append(Token(word, start, offset))
    return tokens


def counted_text(tokens: list[Token], lowercase: bool) -> str:
    """The document a count vectorizer reads: numbers become one symbol, tokens joined by spaces."""
    words = (_DIGITS.sub("__NUMBER__", token.text) for token in tokens)
    return " ".join(word.lower() if lowercase else word for word in words)


Analyzer = Callable[[str], list[str]]


def analyzer(kind: str, min_n: int, max_n: int, lowercase: bool) -> Analyzer:
    """scikit-learn's n-gram analyzer of that kind ('word', 'char_wb' or 'char'), without scikit-learn."""
    if kind == "word":
        return lambda doc: _word_ngrams(_WORD.findall(doc.lower() if lowercase else doc), min_n, max_n)
    if kind == "char_wb":
        return lambda doc: _char_wb_ngrams(doc.lower() if lowercase else doc, min_n, max_n)
    if kind == "char":
        return lambda doc: _char_ngrams(doc.lower() if lowercase else doc, min_n, max_n)
    raise ValueError(f"unknown analyzer {kind!r}")


def _word_ngrams(words: list[str], min_n: int, max_n: int) -> list[str]:
    grams = list(words) if min_n == 1 else []
    for n in range(max(min_n, 2), min(max_n, len(words)) + 1):
        grams.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return grams


def _char_wb_ngrams(doc: str, min_n: int, max_n: int) -> list[str]:
    """Character n-grams inside each word padded with one space; a word shorter than n counts once."""
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", doc).split():
        padded = f" {word} "
        for n in range(min_n, max_n + 1):
            grams.append(padded[:n])
            if n >= len(padded):
                break
            grams.extend(padded[i : i + n] for i in range(1, len(padded) - n + 1))
    return grams


def _char_ngrams(doc: str, min_n: int, max_n: int) -> list[str]:
    doc = _WHITE_SPACES.sub(" ", doc)
    grams: list[str] = []
    for n in range(min_n, min(max_n, len(doc)) + 1):
        grams.extend(doc[i : i + n] for i in range(len(doc) - n + 1))
    return grams
