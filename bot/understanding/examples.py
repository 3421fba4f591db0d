"""The NLU training examples as a person would type them: for language identification, the demo
traffic and the benchmarks.

Annotations (`[Reutlingen](municipality)`) are stripped to their words.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def strip_annotations(text: str) -> str:
    """`wo ist [Metzingen](municipality)` -> `wo ist Metzingen`."""
    return _ANNOTATION.sub(r"\1", text)


def load_examples(nlu_dir: Path, languages: tuple[str, ...]) -> dict[tuple[str, str], list[str]]:
    """(language, intent) -> example texts, in file order (the caller's random generator picks)."""
    examples: dict[tuple[str, str], list[str]] = {}
    for language in languages:
        path = nlu_dir / f"{language}.yml"
        if not path.exists():
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu", []):
            if "intent" not in block:
                continue
            lines = [
                strip_annotations(line.strip()[2:].strip())
                for line in str(block.get("examples", "")).splitlines()
                if line.strip().startswith("- ")
            ]
            examples.setdefault((language, block["intent"]), []).extend(t for t in lines if t)
    return examples
