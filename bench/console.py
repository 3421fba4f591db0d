"""Console benchmark: how the queue and a conversation view hold up when a district is busy.

Fills a fresh database with open handovers (each a conversation of 30 messages in one of the six
user languages, routed to the district's five teams, a third of them claimed) and then measures,
through the real ASGI application and a logged-in lead:

- GET /console/queue (all teams) and /console/queue/rows (what the page polls every 5 s),
- GET /console/cases/<id> with every message's German already stored (the usual case),
- GET /console/cases/<id> with 30 messages still to translate, against the fake LibreTranslate,
- GET /console/cases/<id>/lines?after=<last> (what an open conversation polls every 3 s).

    .venv/bin/python bench/console.py                   # SQLite, and PostgreSQL if reachable
    .venv/bin/python bench/console.py --cases 2000 --backend sqlite

Reports medians and p95 in milliseconds. Run by hand; never a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette

from bot.config import PROJECT_ROOT, Settings
from bot.console.accounts import Accounts
from bot.console.routes import console_routes
from bot.handover.desk import Desk
from bot.i18n.catalogs import Catalogs
from bot.knowledge.content import load_content
from bot.live.editions import Editions
from bot.storage.database import create_engine, upgrade
from bot.storage.handovers import Handovers
from bot.storage.tables import conversations, handovers, messages, users
from bot.translation.service import MachineTranslation

if str(PROJECT_ROOT) not in sys.path:  # tests.fakes and bench.engine when run as a script
    sys.path.insert(0, str(PROJECT_ROOT))

from bench.engine import drop_postgres, postgres_url
from tests.fakes.libretranslate import FakeLibreTranslate

LANGS = ("ar", "fa", "uk", "ru", "tr", "en")
PASSWORD = "ein langes Benchmark-Passwort 42"


async def fill(
    database: sa.ext.asyncio.AsyncEngine, teams: list[str], count: int, per_case: int
) -> list[int]:
    rng = random.Random(11)
    now = dt.datetime.now(dt.timezone.utc)
    ids: list[int] = []
    async with database.begin() as conn:
        for index in range(count):
            language = LANGS[index % len(LANGS)]
            user = await conn.execute(
                sa.insert(users).values(
                    channel="telegram",
                    external_id=uuid.uuid4().hex,
                    language=language,
                    created_at=now,
                    last_seen_at=now,
                )
            )
            conversation = await conn.execute(
                sa.insert(conversations).values(
                    user_id=user.inserted_primary_key[0],
                    status="waiting",
                    language=language,
                    slots={},
                    created_at=now,
                    updated_at=now,
                )
            )
            conversation_id = conversation.inserted_primary_key[0]
            await conn.execute(
                sa.insert(messages),
                [
                    {
                        "conversation_id": conversation_id,
                        "direction": "in" if n % 2 == 0 else "out",
                        "text": f"Nachricht {n} im Chat {index}: " + "Wort " * rng.randint(3, 40),
                        "kind": "text",
                        "language": language,
                        "created_at": now - dt.timedelta(minutes=per_case - n),
                        "german": f"Deutsch {n}",
                        "german_machine": True,
                    }
                    for n in range(per_case)
                ],
            )
            created = now - dt.timedelta(minutes=rng.randint(1, 6000))
            case = await conn.execute(
                sa.insert(handovers).values(
                    conversation_id=conversation_id,
                    reason=rng.choice(["user_request", "deadline", "emergency"]),
                    priority=rng.randint(0, 2),
                    team_id=teams[index % len(teams)],
                    status="waiting",
                    channel="telegram",
                    language=language,
                    town=None,
                    created_at=created,
                    due_at=created + dt.timedelta(hours=rng.randint(1, 72)),
                )
            )
            ids.append(int(case.inserted_primary_key[0]))
    return ids


async def untranslated(database: sa.ext.asyncio.AsyncEngine, case_id: int) -> None:
    async with database.begin() as conn:
        conversation_id = (
            await conn.execute(sa.select(handovers.c.conversation_id).where(handovers.c.id == case_id))
        ).scalar_one()
        await conn.execute(
            sa.update(messages).where(messages.c.conversation_id == conversation_id).values(german=None)
        )


async def timed(client: httpx.AsyncClient, path: str, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        response = await client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return samples


def report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    print(
        f"  {name:<44} median {statistics.median(samples):7.1f} ms   p95 {p95:7.1f} ms   (n={len(samples)})"
    )


async def run(url: str, count: int, per_case: int, runs: int) -> None:
    settings = Settings()
    content = load_content(settings.content_dir)
    catalogs = Catalogs.load(settings.locales_dir)
    database = create_engine(url)
    await upgrade(database)
    teams = list(content.teams)
    started = time.perf_counter()
    ids = await fill(database, teams, count, per_case)
    print(f"  filled {count} open handovers x {per_case} messages in {time.perf_counter() - started:.1f} s")
    accounts = Accounts(database)
    lead = f"lead-{uuid.uuid4().hex[:6]}"
    await accounts.create(lead, PASSWORD, "lead")
    with FakeLibreTranslate() as libre:
        translation = MachineTranslation.from_settings(
            dataclasses.replace(settings, translation_provider="libre", libretranslate_url=libre.url)
        )
        desk = Desk(Handovers(database), Editions(content, catalogs), translation)
        app = Starlette(routes=console_routes(accounts, desk))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client:
            page = await client.get("/console/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            await client.post("/console/login", data={"csrf": csrf, "username": lead, "password": PASSWORD})
            report(f"queue, all teams ({count} open)", await timed(client, "/console/queue", runs))
            report("queue rows (the 5-second poll)", await timed(client, "/console/queue/rows", runs))
            sample = ids[:runs]
            report(
                f"conversation, {per_case} messages, German stored",
                [t for case_id in sample for t in await timed(client, f"/console/cases/{case_id}", 1)],
            )
            fresh = ids[-runs:]
            for case_id in fresh:
                await untranslated(database, case_id)
            report(
                f"conversation, {per_case} messages to translate",
                [t for case_id in fresh for t in await timed(client, f"/console/cases/{case_id}", 1)],
            )
            last = 10**9
            report(
                "new lines (the 3-second poll)",
                await timed(client, f"/console/cases/{ids[0]}/lines?after={last}", runs),
            )
        translation.close()
    await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=30)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        print(f"{backend}:")
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                asyncio.run(
                    run(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", args.cases, args.messages, args.runs)
                )
        else:
            asyncio.run(run_pg(args))


async def run_pg(args: argparse.Namespace) -> None:
    url = await postgres_url()
    if url is None:
        print("  PostgreSQL not reachable; skipped")
        return
    try:
        await run(url, args.cases, args.messages, args.runs)
    finally:
        await drop_postgres(url)


if __name__ == "__main__":
    main()
