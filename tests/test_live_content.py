"""Editors change `content/` while `lotse serve` runs: good changes go live, broken ones are refused.

The server runs as a real process on copies of `content/` and `locales/`; the test edits the files
as an editor would and talks to the bot through the web chat, as a refugee would.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import ServeProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Wo kann ich in Metzingen Volleyball spielen?"
NEW_OFFER = "Volleyball am Abend – Beispiel-TV Metzingen"
OFFER_YAML = f"""
  - id: volleyball-metzingen
    kind: sports
    sport: volleyball
    name: "{NEW_OFFER}"
    description: "Volleyball für Erwachsene, Anfängerinnen und Anfänger sind willkommen."
    town: metzingen
    address: "Sporthalle Neugreuth, 72555 Metzingen"
    phone: "+49 7123 000-799"
    languages: [de, en]
    hours:
      thu: ["19:30-21:30"]
    example: true
    source: "Beispieldaten – erfundene Angaben für die Demo"
    last_checked: 2026-11-20
"""
DEADLINE_S = 60.0  # a generous bound for a slow CI machine; the reload itself takes about a second


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, Path]]:
    tmp = tmp_path_factory.mktemp("live")
    content = tmp / "content"
    shutil.copytree(ROOT / "content", content)
    shutil.copytree(ROOT / "locales", tmp / "locales")
    env = {
        **os.environ,
        "LOTSE_CONTENT_DIR": str(content),
        "LOTSE_LOCALES_DIR": str(tmp / "locales"),
        "LOTSE_VAR_DIR": str(tmp / "var"),
        "LOTSE_RELOAD_INTERVAL": "0.5",
        "LOTSE_RETRAIN": "false",  # these edits do not touch nlu/ or the towns
        "TELEGRAM_TOKEN": "",
    }
    for name in ("DATABASE_URL", "WHATSAPP_TOKEN"):
        env.pop(name, None)
    process = ServeProcess(env, free_port(), tmp / "server.log")
    process.start()
    try:
        yield process, content
    finally:
        process.stop()


def _ask(base_url: str, session: str, text: str) -> str:
    response = httpx.post(
        f"{base_url}/webchat/api/messages?wait=20",
        headers={"X-Lotse-Session": session},
        json={"id": uuid.uuid4().hex, "text": text, "language": "de"},
        timeout=30,
    )
    response.raise_for_status()
    return "\n".join(message["text"] for message in response.json()["messages"])


def _health(base_url: str) -> dict[str, object]:
    content = httpx.get(f"{base_url}/healthz", timeout=10).json()["content"]
    assert isinstance(content, dict)
    return content


def _until(condition: Callable[[], bool], what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > DEADLINE_S:
            raise AssertionError(f"not within {DEADLINE_S} s: {what}")
        time.sleep(0.2)
    return time.monotonic() - started


def test_a_new_offer_goes_live_and_a_broken_edit_is_refused(server: tuple[ServeProcess, Path]) -> None:
    process, content = server
    base = process.base_url
    session = httpx.post(f"{base}/webchat/api/session", timeout=10).json()["session"]
    before = _ask(base, session, QUESTION)
    assert "In Metzingen habe ich dazu nichts gefunden" in before and NEW_OFFER not in before
    assert _health(base)["edition"] == 1

    # an editor adds a volleyball group in Metzingen
    sports = content / "places" / "sports.yml"
    sports.write_text(sports.read_text(encoding="utf-8") + OFFER_YAML, encoding="utf-8")
    seconds = _until(lambda: NEW_OFFER in _ask(base, session, QUESTION), "the bot names the new offer")
    print(f"new offer answered {seconds:.1f} s after the file was saved")
    assert _health(base)["edition"] == 2

    # a broken edit: a weekday typo and a team that serves no town
    teams = content / "teams.yml"
    good = teams.read_text(encoding="utf-8")
    typo_line = good[: good.index('      wed: ["08:30-12:00"]')].count("\n") + 1
    teams.write_text(
        good.replace('      wed: ["08:30-12:00"]', '      wednsday: ["08:30-12:00"]', 1).replace(
            "towns: [metzingen]", "towns: []", 1
        ),
        encoding="utf-8",
    )
    _until(lambda: bool(_health(base)["refused"]), "the health check reports the refused change")
    refused = _health(base)
    problems = "\n".join(str(p) for p in refused["refused"])  # type: ignore[attr-defined]
    assert f"teams.yml:{typo_line}: hours: unknown weekday 'wednsday'" in problems
    assert "serves no town" in problems
    log = process.log_tail(200)
    assert "content change refused, still serving edition 2" in log and "wednsday" in log
    # the last good content keeps answering, the new offer included
    assert refused["edition"] == 2
    assert NEW_OFFER in _ask(base, session, QUESTION)

    # the editor fixes the file: the next edition goes live and the refusal is gone
    teams.write_text(good, encoding="utf-8")
    _until(lambda: _health(base)["edition"] == 3, "the fixed content is published")
    assert _health(base)["refused"] == []

    # a translator's typo in a catalog is refused the same way, with the catalog's line
    catalog = content.parent / "locales" / "ar" / "LC_MESSAGES" / "content.po"
    po = catalog.read_text(encoding="utf-8")
    at = po.index('msgstr "', po.index('msgctxt "topic:sports.offers:title"'))
    catalog.write_text(po[:at] + "msgst" + po[at + len("msgstr") :], encoding="utf-8")
    _until(lambda: bool(_health(base)["refused"]), "the broken catalog is refused")
    assert f"content.po:{po[:at].count(chr(10)) + 1}:" in str(_health(base)["refused"])
    assert _health(base)["edition"] == 3
    catalog.write_text(po, encoding="utf-8")
    _until(lambda: _health(base)["edition"] == 4, "the repaired catalog is published")
