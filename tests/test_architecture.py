"""Transport stays at the edge: the engine imports no Rasa, Starlette or python-telegram-bot."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

FORBIDDEN = ("rasa", "starlette", "telegram", "uvicorn", "httpx", "sqlalchemy")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_engine_imports_no_transport_or_nlu_framework() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "bot" / "engine").rglob("*.py")
        for name in _imports(path)
        if name.split(".")[0] in FORBIDDEN
    ]
    assert offenders == []


def test_only_training_imports_rasa() -> None:
    """Serving reads the trained model without Rasa: seconds of start-up and hundreds of MB saved."""
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "bot").rglob("*.py")
        if path != ROOT / "bot" / "understanding" / "training.py"
        for name in _imports(path)
        if name.split(".")[0] in ("rasa", "tensorflow", "skops")
    ]
    assert offenders == []
