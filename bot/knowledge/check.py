"""`lotse content check`: everything wrong with `content/` and `locales/`, in one report.

Errors stop content from loading; warnings come from `review` (out of date, implausible) and from
the translations (missing, stale). Translations are judged even when the content has errors, so an
editor fixes a typo and a stale Arabic entry in one round; the review needs loaded content.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bot.i18n.freshness import translation_findings
from bot.knowledge.content import Content, read_content
from bot.knowledge.findings import Finding
from bot.knowledge.review import review


def check(
    content_dir: Path, locales_dir: Path, today: dt.date, max_age_days: int
) -> tuple[Content | None, list[Finding]]:
    """The loaded content (None when it does not load) and every finding, errors first."""
    attempt = read_content(content_dir)
    findings = [Finding("error", e.path, e.line, e.detail) for e in attempt.errors]
    if attempt.content is not None:
        findings += review(attempt.content, today, max_age_days)
    findings += translation_findings(attempt.strings, locales_dir)
    return attempt.content, sorted(findings, key=Finding.sort_key)
