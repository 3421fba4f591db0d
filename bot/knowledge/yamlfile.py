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


# Far deeper than any content file; a deeper file is a mistake, and the parser would otherwise run
# out of Python's recursion depth with an error that names no line.
MAX_NESTING = 64


class _LineLoader(yaml.SafeLoader):
    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_NESTING} levels deep", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A value its tag cannot hold (`2024-13-45`, `!!bool vielleicht`) as an error with its line."""
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            shown = repr(node.value)[:60] if isinstance(node, yaml.ScalarNode) else "this value"
            kind = str(node.tag).rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None, None, f"{shown} cannot be read as {kind} ({exc})", node.start_mark
            ) from exc


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
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContentError(
            path, raw.count(b"\n", 0, exc.start) + 1, f"not UTF-8 text ({exc.reason}); save the file as UTF-8"
        ) from exc
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ContentError(path, line, f"YAML syntax: {exc.problem}") from exc
    except yaml.reader.ReaderError as exc:  # a control character, which YAML does not allow
        shown = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        at = text.count("\n", 0, exc.position) + 1
        raise ContentError(path, at, f"invisible character {shown} is not allowed; delete it") from exc
