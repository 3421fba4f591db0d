"""Transport stays at the edge: the engine imports no Rasa, Starlette or python-telegram-bot."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

FORBIDDEN = ("rasa", "starlette", "telegram", "uvicorn", "httpx", "sqlalchemy")


def test_engine_imports_no_transport_or_nlu_framework() -> None:
    offenders = []
    for path in (ROOT / "bot" / "engine").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in FORBIDDEN:
                    offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []
