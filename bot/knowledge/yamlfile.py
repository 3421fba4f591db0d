"""YAML loading that remembers line numbers.

Editors are not developers: an error must say "content/teams.yml:42", not "teams[3].hours". The
loader records the line of every mapping and of every key so that validation errors can point there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.knowledge.errors import ContentError


class LineDict(dict[str, Any]):
    """A mapping that knows the line it started on and the line of each key."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        result[str(key)] = loader.construct_object(value_node, deep=True)
        result.key_lines[str(key)] = key_node.start_mark.line + 1
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> Any:
    """Parse one YAML file; syntax errors become a ContentError with the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ContentError(path, None, f"not UTF-8 text ({exc.reason})") from exc
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ContentError(path, line, f"YAML syntax: {exc.problem}") from exc
