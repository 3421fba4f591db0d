"""The command-line interface that users and evaluation rely on, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LOTSE = [sys.executable, "-m", "bot.cli"]


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "LOTSE_VAR_DIR": str(tmp_path), **env}
    environment.pop("DATABASE_URL", None)
    return subprocess.run(
        [*LOTSE, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.usefixtures("understanding")
def test_ask_json_has_the_documented_fields(tmp_path: Path) -> None:
    result = _run(["ask", "Mein Asylantrag wurde abgelehnt, was kann ich tun?", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, "stdout must hold exactly one JSON document"
    data = json.loads(lines[0])
    for field in ("intent", "confidence", "language", "answer_key", "handover", "messages"):
        assert field in data
    assert data["intent"] == "asylum_rejected" and data["handover"] is True
    assert all("text" in m and "buttons" in m for m in data["messages"])


@pytest.mark.usefixtures("understanding")
def test_chat_script_is_one_conversation_in_json_lines(tmp_path: Path) -> None:
    script = tmp_path / "dialog.txt"
    script.write_text(
        "Hallo\nwann hat das Integrationsmanagement offen?\nbutton:town:metzingen\n", encoding="utf-8"
    )
    result = _run(["chat", "--script", str(script), "--json"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    replies = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(replies) == 3
    assert replies[1]["intent"] == "counselling_hours"
    assert "Metzingen" in replies[2]["messages"][-1]["text"] or any(
        "Metzingen" in m["text"] for m in replies[2]["messages"]
    )


def test_content_check_reports_file_and_line_and_fails(tmp_path: Path) -> None:
    import shutil

    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    teams = content / "teams.yml"
    teams.write_text(teams.read_text(encoding="utf-8").replace("wed:", "wednsday:", 1), encoding="utf-8")
    result = _run(["content", "check"], tmp_path, LOTSE_CONTENT_DIR=str(content))
    assert result.returncode == 1
    assert "teams.yml:" in result.stdout and "wednsday" in result.stdout
    ok = _run(["content", "check"], tmp_path)
    assert ok.returncode == 0 and "content OK" in ok.stdout


def test_a_changed_german_source_shows_its_translations_as_stale_in_content_stats(tmp_path: Path) -> None:
    """An editor rewords a sentence; `i18n update` marks the translations, `content stats` counts them."""
    import shutil

    content, locales = tmp_path / "content", tmp_path / "locales"
    shutil.copytree(ROOT / "content", content)
    shutil.copytree(ROOT / "locales", locales)
    env = {"LOTSE_CONTENT_DIR": str(content), "LOTSE_LOCALES_DIR": str(locales)}

    def stats() -> dict[str, dict[str, int]]:
        result = _run(["content", "stats", "--json"], tmp_path, **env)
        assert result.returncode == 0, result.stderr
        return {row["language"]: row for row in json.loads(result.stdout) if row["domain"] == "content"}

    before = stats()
    assert set(before) == {"en", "ar", "fa", "uk", "ru", "tr"}
    assert all(row["stale"] == 0 and row["missing"] == 0 for row in before.values())

    kita = content / "topics" / "kita.yml"
    old = "Das gilt bis zum Schulbeginn."
    assert old in kita.read_text(encoding="utf-8")
    kita.write_text(
        kita.read_text(encoding="utf-8").replace(old, "Das gilt bis zum Beginn der Schule."), encoding="utf-8"
    )
    updated = _run(["i18n", "update"], tmp_path, **env)
    assert updated.returncode == 0, updated.stderr

    after = stats()
    for language, row in after.items():
        assert row["stale"] == 1, (language, row)
        assert row["total"] == before[language]["total"]
        assert row["usable"] == before[language]["usable"] - 1
    table = _run(["content", "stats"], tmp_path, **env)
    assert table.returncode == 0 and "stale" in table.stdout.splitlines()[0]
