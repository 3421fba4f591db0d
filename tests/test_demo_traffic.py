"""`lotse demo traffic` fills a database through the engine, and `lotse stats` counts exactly that."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.stats.topics import topic_of
from bot.storage.database import as_utc, create_engine
from bot.storage.tables import messages, staff, users
from tests.conftest import ROOT

BERLIN = ZoneInfo("Europe/Berlin")


def _lotse(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


async def _inbound_per_week_and_topic(url: str) -> Counter[tuple[str, str]]:
    """Counted here without bot.stats.figures: every inbound message by Berlin week and topic."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(messages.c.intent, messages.c.created_at).where(messages.c.direction == "in")
            )
            tally: Counter[tuple[str, str]] = Counter()
            for row in rows:
                year, week, _ = as_utc(row.created_at).astimezone(BERLIN).date().isocalendar()
                tally[(f"{year}-W{week:02d}", topic_of(row.intent))] += 1
            return tally
    finally:
        await engine.dispose()


async def _count(url: str, table: sa.Table) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())
    finally:
        await engine.dispose()


def _grid(report: dict[str, Any]) -> dict[tuple[str, str], Any]:
    table = next(t for t in report["tables"] if t["key"] == "topics_per_week")
    return {
        (row[0], column): value
        for row in table["rows"]
        for column, value in zip(table["columns"][1:], row[1:], strict=True)
    }


async def test_demo_traffic_and_stats_agree_with_the_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    env = {**os.environ, "DATABASE_URL": url, "LOTSE_VAR_DIR": str(tmp_path / "var")}
    made = await asyncio.to_thread(
        _lotse, env, "demo", "traffic", "--days", "7", "--users", "30", "--seed", "3"
    )
    assert made.returncode == 0, made.stderr
    assert "users      30" in made.stdout and "messages" in made.stdout

    stored = await _inbound_per_week_and_topic(url)
    assert sum(stored.values()) > 30  # every user wrote at least once
    today = dt.datetime.now(BERLIN).date()
    period = ["--from", (today - dt.timedelta(days=8)).isoformat(), "--to", today.isoformat()]

    everything = await asyncio.to_thread(_lotse, env, "stats", "--json", "--min-cell", "1", *period)
    assert everything.returncode == 0, everything.stderr
    grid = _grid(json.loads(everything.stdout))
    assert {key: value for key, value in grid.items() if value} == dict(stored)

    suppressed = await asyncio.to_thread(_lotse, env, "stats", "--json", *period)
    assert suppressed.returncode == 0, suppressed.stderr
    report = json.loads(suppressed.stdout)
    assert report["threshold"] == 5
    for key, value in _grid(report).items():
        if value is None:
            assert 0 < stored[key] < 5 or key in _secondary(report)
        else:
            assert value == stored[key]

    # the simulated caseworkers are real (disabled) accounts, and the console's first accounts exist
    assert await _count(url, staff) >= 2
    again = await asyncio.to_thread(
        _lotse, env, "demo", "traffic", "--days", "7", "--users", "10", "--seed", "3"
    )
    assert again.returncode == 0, again.stderr
    assert sum((await _inbound_per_week_and_topic(url)).values()) > sum(stored.values())
    assert await _count(url, users) == 40  # new users, not the first run's again


def _secondary(report: dict[str, Any]) -> set[tuple[str, str]]:
    table = next(t for t in report["tables"] if t["key"] == "topics_per_week")
    return {(table["rows"][r][0], table["columns"][c]) for r, c in table["secondary"]}
