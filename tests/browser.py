"""Debian's Chromium for the browser tests, driven by Playwright (registered in conftest.py).

Playwright never downloads a browser here: only /usr/bin/chromium is launched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def _unavailable(reason: str) -> None:
    """Skip on a developer's machine; on CI (CI set) a missing browser is an error, not a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the browser test must run there)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("Playwright for Python is not installed: .venv/bin/pip install playwright")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Only the system Chromium is launched (executable_path): Playwright's own browsers are never used.
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()
