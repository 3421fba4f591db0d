"""Engine benchmark: mixed messages in all seven languages through the full engine.

Each message goes through normalisation, safety net, Rasa NLU, dialogue and a database
transaction (read state, write inbound + replies + state). Messages come from 200 simulated users
in every language, mixing questions, button presses and small talk, so that conversations
accumulate state as in real use.

    .venv/bin/python bench/engine.py                 # SQLite, and PostgreSQL if reachable
    .venv/bin/python bench/engine.py --messages 2000 --backend sqlite

Reports messages/s, p50/p95/p99 latency per message and peak RSS. Run by hand; never a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bot.app import build
from bot.config import PROJECT_ROOT, Settings
from bot.engine.messages import Inbound
from bot.understanding.examples import load_examples

PG_ADMIN_URL = os.environ.get("LOTSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
LANGS = ("de", "en", "ar", "fa", "uk", "ru", "tr")
PRESSES = ("town:reutlingen", "town:metzingen", "age:u3", "status:municipality", "topic:asylum.step.hearing")


def sample_texts(rng: random.Random, exclude: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """Training examples per language, annotations removed, shuffled; without `exclude` intents."""
    examples = load_examples(PROJECT_ROOT / "nlu", LANGS)
    texts: dict[str, list[str]] = {}
    for lang in LANGS:
        lines = [
            text
            for (language, intent), found in examples.items()
            if language == lang and intent not in exclude
            for text in found
        ]
        rng.shuffle(lines)
        texts[lang] = lines
    return texts


def workload(count: int, users: int, seed: int = 7) -> list[Inbound]:
    rng = random.Random(seed)
    texts = sample_texts(rng)
    people = [(f"bench-{uuid.uuid4().hex[:8]}", LANGS[i % len(LANGS)]) for i in range(users)]
    messages = []
    for _ in range(count):
        user, lang = rng.choice(people)
        if rng.random() < 0.2:
            messages.append(Inbound("bench", user, payload=rng.choice(PRESSES)))
        else:
            messages.append(Inbound("bench", user, text=rng.choice(texts[lang])))
    return messages


async def run(database_url: str, messages: list[Inbound]) -> dict[str, float]:
    settings = Settings(database_url=database_url)
    lotse = await build(settings)
    try:
        for warm in messages[:20]:  # load caches, JIT paths of the model
            await lotse.engine.handle(Inbound("warmup", "w", text=warm.text or "hallo"))
        latencies = []
        started = time.perf_counter()
        for message in messages:
            t0 = time.perf_counter()
            await lotse.engine.handle(message)
            latencies.append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - started
    finally:
        await lotse.close()
    latencies.sort()
    return {
        "messages": len(messages),
        "msg_per_s": len(messages) / elapsed,
        "p50_ms": statistics.median(latencies),
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))],
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
        "max_ms": latencies[-1],
    }


async def postgres_url() -> str | None:
    try:
        import asyncpg

        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=2)
    except Exception:  # any failure means: no PostgreSQL here
        return None
    name = f"lotse_bench_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return f"postgresql+asyncpg://{PG_ADMIN_URL.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"


async def drop_postgres(url: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN_URL)
    await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    messages = workload(args.messages, args.users)
    results: dict[str, dict[str, float]] = {}
    if args.backend in {"sqlite", "both"}:
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = await run(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", messages)
    if args.backend in {"postgresql", "both"}:
        url = await postgres_url()
        if url is None:
            print(f"PostgreSQL not reachable at {PG_ADMIN_URL}; skipped")
        else:
            try:
                results["postgresql"] = await run(url, messages)
            finally:
                await drop_postgres(url)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'backend':<11} {'msgs':>5} {'msg/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    for backend, r in results.items():
        print(
            f"{backend:<11} {r['messages']:>5.0f} {r['msg_per_s']:>7.1f} {r['p50_ms']:>7.2f}"
            f" {r['p95_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['max_ms']:>7.2f}"
        )
    print(f"peak RSS: {peak_mb:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
