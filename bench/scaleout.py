"""Scale-out: `lotse serve --workers 2` against `--workers 1`, both on PostgreSQL, one address each.

    .venv/bin/python bench/scaleout.py             # 3000 messages per setup, 50 concurrent chats
    .venv/bin/python bench/scaleout.py --quick     # 600 messages: a check that everything runs

Each setup gets a fresh database (`lotse_scale_*` on the server of --pg, dropped afterwards) and is
started as an operator would start it (`lotse serve --workers N`, DATABASE_URL set). Both are up
for the whole run; the same saturated web chat workload (`bench/chat_load.py`: short chats in the
seven languages, 50 at a time, each writing again as soon as it is answered) is cut into rounds,
and each round is played against both in alternating order (1,2 then 2,1, ...), so that whatever
else the machine does hits both. Reported per setup: throughput, p50/p95/p99 of request to complete
answer, cold start to the first answer and peak RSS of all its processes; and the scaling factor,
2-worker throughput over 1-worker throughput.

Nothing may be lost or doubled. Every message sent must come back answered, and the database must
agree: every inbox row `done`, as many inbound `messages` rows as messages were sent, and no turn
recorded twice. An inbound message row and its inbox row share the chat (the user's external id
is the inbox row's chat id) and the text, which is unique within each of the workload's chats, so
the two are matched as multisets of (chat, text).

The load generator runs in this process on the same machine and shares its cores with the workers
and PostgreSQL (the machine this was written on has 2): more workers than cores cannot help, and
the factor measured here is a lower bound for a machine where the load comes from elsewhere.
Run by hand; never a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import PROJECT_ROOT, Settings

if str(PROJECT_ROOT) not in sys.path:  # bench.* when run as a script
    sys.path.insert(0, str(PROJECT_ROOT))

import httpx
import psutil

from bench.chat_load import (
    LotseWebChat,
    RunResult,
    conversations,
    latency_summary,
    percentile,
    play,
)
from bench.compare import machine, rounds_of
from bench.compare_servers import VENV_BIN, Server, clean_env
from tests.harness import free_port

SETUPS = (1, 2)
PG_ADMIN = os.environ.get("LOTSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class Measured:
    """What one setup did: load results, per-round throughput, start and memory."""

    workers: int
    saturated: RunResult = field(default_factory=RunResult)
    round_throughput: list[float] = field(default_factory=list)
    cold_start_s: float = 0.0
    peak_rss_mb: float = 0.0
    check: dict[str, int] = field(default_factory=dict)
    cpu_s: Counter[str] = field(default_factory=Counter)  # CPU seconds during this setup's rounds
    wakeups_ms: list[float] = field(default_factory=list)


class CpuMeter:
    """Where the CPU time of a round went: the setup's Lotse processes, its PostgreSQL backends
    (recognised by the database name in their process title), this process (the load generator)
    and the whole machine, so that other work on it shows as the rest."""

    def __init__(self, server: Server, database: str) -> None:
        self.server, self.database = server, database

    def read(self) -> dict[str, Any]:
        assert self.server.process is not None
        root = psutil.Process(self.server.process.pid)
        backends = {}
        for proc in psutil.process_iter(["cmdline"]):
            if self.database in " ".join(proc.info["cmdline"] or ()):
                backends[proc.pid] = _cpu(proc)
        machine = psutil.cpu_times()
        return {
            "lotse": sum(_cpu(p) for p in [root, *root.children(recursive=True)]),
            "postgres": backends,
            "load generator": _cpu(psutil.Process()),
            "idle": machine.idle + getattr(machine, "iowait", 0.0),
            # guest time is counted in user time already
            "all": sum(machine) - getattr(machine, "guest", 0.0) - getattr(machine, "guest_nice", 0.0),
        }

    @staticmethod
    def spent(before: dict[str, Any], after: dict[str, Any]) -> Counter[str]:
        postgres = sum(t - before["postgres"].get(pid, 0.0) for pid, t in after["postgres"].items())
        spent = Counter({k: after[k] - before[k] for k in ("lotse", "load generator", "idle", "all")})
        spent["postgres"] = postgres
        spent["everything else"] = spent["all"] - spent["idle"] - spent["lotse"] - postgres - spent[
            "load generator"
        ]
        return spent


def _cpu(proc: psutil.Process) -> float:
    try:
        times = proc.cpu_times()
    except psutil.Error:  # gone meanwhile
        return 0.0
    return float(times.user + times.system)


async def _admin(sql: str, admin_url: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def database_url(admin_url: str, name: str) -> str:
    return f"{admin_url.rsplit('/', 1)[0]}/{name}"


def server(workers: int, url: str, var_dir: Path) -> Server:
    var_dir.mkdir(parents=True, exist_ok=True)
    env = clean_env(
        DATABASE_URL=url,
        LOTSE_VAR_DIR=str(var_dir),
        LOTSE_MODEL=str(Settings().model_path),
        LOTSE_RETRAIN="false",
    )
    command = [
        str(VENV_BIN / "lotse"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port()),
        "--workers",
        str(workers),
    ]
    return Server(f"{workers} worker(s)", command, env, PROJECT_ROOT, var_dir / "serve.log", LotseWebChat())


async def counts(url: str) -> dict[str, int]:
    """Inbox rows and inbound message rows of the web chat, so far."""
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        inbox_rows = await connection.fetchval("SELECT count(*) FROM inbox WHERE channel = 'web'")
        inbound = await connection.fetchval(
            "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "JOIN users u ON u.id = c.user_id WHERE m.direction = 'in' AND u.channel = 'web'"
        )
    finally:
        await connection.close()
    return {"inbox": int(inbox_rows), "inbound": int(inbound)}


async def audit(url: str) -> dict[str, int]:
    """Lost and doubled turns in the whole database: inbox rows against inbound message rows."""
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT chat_id, body->>'text' AS text, status, attempts FROM inbox "
                                      "WHERE channel = 'web'")
        turns = await connection.fetch(
            "SELECT u.external_id AS chat_id, m.text FROM messages m "
            "JOIN conversations c ON c.id = m.conversation_id JOIN users u ON u.id = c.user_id "
            "WHERE m.direction = 'in' AND u.channel = 'web'"
        )
    finally:
        await connection.close()
    queued = Counter((r["chat_id"], r["text"]) for r in rows)
    recorded = Counter((t["chat_id"], t["text"]) for t in turns)
    return {
        "inbox rows": len(rows),
        "inbox rows not done": sum(r["status"] != "done" for r in rows),
        "inbox rows taken up again": sum(r["attempts"] > 1 for r in rows),
        "inbound message rows": len(turns),
        "turns recorded twice": sum(max(0, recorded[k] - queued[k]) for k in recorded),
        "turns missing": sum(max(0, queued[k] - recorded[k]) for k in queued),
    }


async def wakeup(server: Server, text: str) -> float:
    """Seconds from posting a message to the answer reaching a long poll held on another connection.

    This is what the web chat page does: it posts without waiting and long-polls for messages. With
    two workers the post and the poll land on the same worker or on different ones; in the second
    case only the bell's bridge tells the poll's worker that the answer is there (otherwise it looks
    again after its 1 s poll).
    """
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=fresh, verify=False) as http:
        session = (await http.post("/webchat/api/session")).json()["session"]
        headers = {"x-lotse-session": session}
        poll = asyncio.create_task(
            http.get("/webchat/api/messages", params={"after": "0", "wait": "10"}, headers=headers)
        )
        await asyncio.sleep(0.3)  # the long poll is waiting by now
        started = time.perf_counter()
        posted = await http.post(
            "/webchat/api/messages", json={"id": uuid.uuid4().hex, "text": text}, headers=headers
        )
        posted.raise_for_status()
        answered = await poll
        elapsed = time.perf_counter() - started
        if not answered.json().get("messages"):
            raise RuntimeError("a long poll ended without the answer")
    return elapsed


def order(index: int) -> tuple[int, ...]:
    """1,2 then 2,1: neither setup always follows the other's load."""
    return SETUPS if index % 2 == 0 else SETUPS[::-1]


async def run(args: argparse.Namespace) -> dict[int, Measured]:
    measured = {n: Measured(n) for n in SETUPS}
    names = {n: f"lotse_scale_{n}w_{uuid.uuid4().hex[:8]}" for n in SETUPS}
    urls = {n: database_url(args.pg, names[n]) for n in SETUPS}
    servers: dict[int, Server] = {}
    chats = conversations(args.messages)
    with tempfile.TemporaryDirectory(prefix="lotse-scaleout-") as tmp:
        try:
            for n in SETUPS:
                await _admin(f'CREATE DATABASE "{names[n]}"', args.pg)
            for n in SETUPS:
                servers[n] = server(n, urls[n], Path(tmp) / f"w{n}")
                measured[n].cold_start_s = await servers[n].start()
                # a chat per slot, so that every worker has its connections, pools and caches
                warmup = conversations(args.concurrency * 6, seed=99)
                await play(servers[n].client, servers[n].base_url, warmup, args.concurrency)
                servers[n].peak_rss_mb = 0.0
            before = {n: await counts(urls[n]) for n in SETUPS}
            for index, part in enumerate(rounds_of(chats, args.rounds)):
                line = []
                for n in order(index):
                    meter = CpuMeter(servers[n], names[n])
                    start = meter.read()
                    result = await play(servers[n].client, servers[n].base_url, part, args.concurrency)
                    measured[n].cpu_s.update(meter.spent(start, meter.read()))
                    measured[n].saturated.add(result)
                    measured[n].round_throughput.append(result.throughput)
                    line.append(
                        f"{n} worker(s) {result.throughput:6.1f} msg/s "
                        f"p99 {latency_summary(result)['p99_ms']:6.0f} ms"
                    )
                print(f"round {index + 1}/{args.rounds}: " + " | ".join(line), flush=True)
            for n in SETUPS:
                measured[n].peak_rss_mb = servers[n].peak_rss_mb
                after = await counts(urls[n])
                measured[n].check = {
                    "messages sent": measured[n].saturated.messages,
                    "inbox rows added": after["inbox"] - before[n]["inbox"],
                    "inbound rows added": after["inbound"] - before[n]["inbound"],
                }
            for index in range(args.wakeups):  # one chat at a time: the machine is quiet
                for n in order(index):
                    seconds = await wakeup(servers[n], chats[index % len(chats)].texts[0])
                    measured[n].wakeups_ms.append(seconds * 1000)
            for n in SETUPS:  # the whole database: warm-up, rounds and probes
                measured[n].check.update(await audit(urls[n]))
        finally:
            for s in servers.values():
                s.stop()
            if not args.keep:
                for n in SETUPS:
                    await _admin(f'DROP DATABASE IF EXISTS "{names[n]}" WITH (FORCE)', args.pg)
    return measured


def problems(m: Measured) -> list[str]:
    """Everything that is not exactly one answered turn per message sent."""
    c, r = m.check, m.saturated
    found = []
    if r.unanswered or r.errors:
        found.append(f"{r.unanswered} unanswered, {r.errors} failed requests")
    if c["inbox rows added"] != c["messages sent"] or c["inbound rows added"] != c["messages sent"]:
        found.append(
            f"sent {c['messages sent']}, inbox rows +{c['inbox rows added']}, "
            f"inbound message rows +{c['inbound rows added']}"
        )
    for key in ("inbox rows not done", "turns recorded twice", "turns missing"):
        if c[key]:
            found.append(f"{key}: {c[key]}")
    return found


def table(measured: dict[int, Measured]) -> tuple[str, dict[str, Any]]:
    one, two = measured[1], measured[2]
    factor = two.saturated.throughput / one.saturated.throughput if one.saturated.throughput else 0.0
    lines = [
        "| measure | 1 worker | 2 workers | 2/1 |",
        "|---|---:|---:|---:|",
        f"| throughput, saturated (msg/s) | {one.saturated.throughput:.1f} | {two.saturated.throughput:.1f} "
        f"| **{factor:.2f}** |",
    ]
    lat = {n: latency_summary(measured[n].saturated) for n in SETUPS}
    for key, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        lines.append(
            f"| latency {label} (ms) | {lat[1][key]:.1f} | {lat[2][key]:.1f} | {lat[2][key] / lat[1][key]:.2f} |"
        )
    wake = {n: sorted(measured[n].wakeups_ms) for n in SETUPS}
    if wake[1] and wake[2]:
        for share, label in ((0.5, "p50"), (0.9, "p90"), (1.0, "max")):
            w1, w2 = percentile(wake[1], share), percentile(wake[2], share)
            lines.append(
                f"| unloaded: post to answer in a long poll on another connection, {label} (ms) "
                f"| {w1:.1f} | {w2:.1f} | {w2 / w1:.2f} |"
            )
    for key in ("lotse", "postgres", "load generator", "everything else"):
        per = {n: measured[n].cpu_s[key] / max(1, measured[n].saturated.messages) * 1000 for n in SETUPS}
        lines.append(f"| CPU per message: {key} (ms) | {per[1]:.1f} | {per[2]:.1f} | {per[2] / per[1]:.2f} |")
    idle = {n: measured[n].cpu_s["idle"] / measured[n].cpu_s["all"] * 100 for n in SETUPS}
    lines.append(f"| machine idle during the rounds (%) | {idle[1]:.0f} | {idle[2]:.0f} | |")
    lines.append(f"| cold start to first answer (s) | {one.cold_start_s:.1f} | {two.cold_start_s:.1f} | |")
    lines.append(f"| peak RSS, all processes (MB) | {one.peak_rss_mb:.0f} | {two.peak_rss_mb:.0f} | |")
    lines.append(
        f"| per-round throughput (msg/s) | {', '.join(f'{v:.0f}' for v in one.round_throughput)} "
        f"| {', '.join(f'{v:.0f}' for v in two.round_throughput)} | |"
    )
    for key in (
        "messages sent",
        "inbox rows added",
        "inbound rows added",
        "inbox rows not done",
        "turns recorded twice",
        "turns missing",
        "inbox rows taken up again",
    ):
        scope = "" if key.endswith(("sent", "added")) else " (whole database, warm-up and probes too)"
        lines.append(f"| {key}{scope} | {one.check[key]} | {two.check[key]} | |")
    lines.append(
        f"| unanswered / failed requests | {one.saturated.unanswered} / {one.saturated.errors} "
        f"| {two.saturated.unanswered} / {two.saturated.errors} | |"
    )
    figures: dict[str, Any] = {
        "scaling_factor": factor,
        **{
            f"{n}_workers": {
                "throughput": measured[n].saturated.throughput,
                **lat[n],
                "cold_start_s": measured[n].cold_start_s,
                "peak_rss_mb": measured[n].peak_rss_mb,
                "round_throughput": measured[n].round_throughput,
                "unanswered": measured[n].saturated.unanswered,
                "errors": measured[n].saturated.errors,
                "check": measured[n].check,
                "cpu_s": dict(measured[n].cpu_s),
                "wakeups_ms": measured[n].wakeups_ms,
                "problems": problems(measured[n]),
            }
            for n in SETUPS
        },
    }
    return "\n".join(lines), figures


def reading(measured: dict[int, Measured]) -> str:
    """What limits the factor on this machine, from the CPU figures of the same run."""
    one, two = measured[1], measured[2]
    busy_one = one.cpu_s["lotse"] / one.saturated.seconds * 100 if one.saturated.seconds else 0.0
    spent = {k: two.cpu_s[k] / max(1, two.saturated.messages) * 1000 for k in two.cpu_s}
    per_message = sum(spent[k] for k in ("lotse", "postgres", "load generator", "everything else"))
    cores = os.cpu_count() or 1
    ceiling = cores / per_message * 1000 if per_message else 0.0
    most = ceiling / one.saturated.throughput if one.saturated.throughput else 0.0
    return (
        f"Reading: with one worker its process was busy {busy_one:.0f} % of a core (a process runs "
        f"on one core at a time: one event loop) while the machine had {one.cpu_s['idle'] / one.cpu_s['all'] * 100:.0f} % idle. "
        f"With two, each message cost {spent['lotse']:.1f} ms of CPU in Lotse, {spent['postgres']:.1f} ms "
        f"in PostgreSQL, {spent['load generator']:.1f} ms in the load generator and "
        f"{spent['everything else']:.1f} ms elsewhere: {per_message:.1f} ms, so {cores} cores carry at most "
        f"about {ceiling:.0f} msg/s, a factor of {most:.2f} over one worker here. A second worker scales "
        "further only where it gets a core of its own, with the load and the database elsewhere.\n"
    )


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


async def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000, help="messages per setup")
    parser.add_argument("--concurrency", type=int, default=50, help="chats at a time")
    parser.add_argument("--rounds", type=int, default=4, help="rounds; setups alternate within each")
    parser.add_argument("--wakeups", type=int, default=40, help="unloaded post-to-long-poll probes per setup")
    parser.add_argument("--quick", action="store_true", help="600 messages, 2 rounds, 10 probes")
    parser.add_argument("--pg", default=PG_ADMIN, help="PostgreSQL URL whose server gets the databases")
    parser.add_argument("--keep", action="store_true", help="keep the databases (to look inside)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "bench")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.rounds, args.wakeups = 600, 2, 10
    load_before = load_average()
    started = dt.datetime.now()
    measured = await run(args)
    markdown, figures = table(measured)
    figures["load_average_before"] = load_before
    figures["load_average_after"] = load_average()
    header = (
        f"`lotse serve --workers N` on PostgreSQL, {args.messages} messages per setup, "
        f"{args.concurrency} concurrent web chats, saturated, {args.rounds} interleaved rounds; "
        f"{started:%Y-%m-%d %H:%M}; {machine()}; load average (1/5/15 min) before {load_before}, "
        f"after {figures['load_average_after']}. The load generator shares the machine's cores.\n"
        f"Command: `{' '.join(['.venv/bin/python bench/scaleout.py', *argv])}`\n"
    )
    print()
    print(header)
    print(markdown)
    note = reading(measured)
    print()
    print(note)
    failed = {n: problems(measured[n]) for n in SETUPS}
    verdicts = "".join(
        f"- {n} worker(s): " + ("; ".join(found) if found else "no message lost or doubled") + "\n"
        for n, found in failed.items()
    )
    print(verdicts, end="")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaleout.md").write_text(
        f"# Scale-out\n\n{header}\n{markdown}\n\n{verdicts}\n{note}", encoding="utf-8"
    )
    figures["verdicts"] = {str(n): found for n, found in failed.items()}
    (args.out / "scaleout.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten: {args.out / 'scaleout.md'}, scaleout.json")
    return 1 if any(failed.values()) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
