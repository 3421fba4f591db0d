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
