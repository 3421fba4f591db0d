"""Telegram end to end: webhook POSTs into a real `lotse serve`, replies counted at a fake Bot API.

A `lotse serve` process (fresh database per run) gets updates from simulated users in all seven
languages on its webhook: questions from nlu/<lang>.yml, `/start <lang>`, `/menu`, button presses
and stickers. A fake Telegram Bot API (tests/fakes/telegram.py, a real HTTP server in a thread of
this process) answers the server's calls and notes when each sendMessage arrived.

    .venv/bin/python bench/telegram_webhook.py                       # SQLite, 3 runs, medians
    .venv/bin/python bench/telegram_webhook.py --quick               # smoke test: 500 updates, 1 run
    .venv/bin/python bench/telegram_webhook.py --backend postgresql  # fresh database on LOTSE_TEST_PG
    .venv/bin/python bench/telegram_webhook.py --profile /tmp/serve.txt   # py-spy on the server's burst

Each run has two phases on one server, with Telegram's limits set aside (TELEGRAM_RATE=100000,
TELEGRAM_CHAT_INTERVAL=0):

- burst: every user posts its next update as soon as the first reply to the previous one arrived
  (a closed loop: at most one update per user in flight). updates/s = updates / (first POST to
  last first reply). By Little's law the latency here is users / throughput: it measures capacity.
- paced: the same conversations from other users, offered at --rate updates/s overall (each user
  in order, the next update after the previous one's 200): the latency at the load the target names.

Latency is from the start of the webhook POST to the moment the fake answered the update's first
sendMessage. Which reply belongs to which update is known because the same conversations are
first replayed through the engine in-process on a fresh SQLite database (as
tests/test_crash_recovery.py does): that gives the number of messages each update produces, and
per chat the server's replies must match those counts (lost = missing, duplicated = extra).
Texts are not compared: answers about opening hours depend on the clock.

Then one limiter run on a fresh server with Telegram's real limits (30 messages/s, 1 s per chat):
users post several updates at once; reported are the sustained send rate, the busiest second and
the shortest gap between two messages to one chat, all as seen at the fake.

Per phase it also prints where the time went: CPU of the server (and of its event loop thread),
of the load generator and the fake (which share this process) and of other processes (PostgreSQL,
anything else running), Bot API calls per update, and from the inbox and outbox rows how long
updates waited before their turn began and how long from there to the first reply. With
--profile, py-spy samples the server's GIL-holding thread during run 1's burst and the samples are
summed per pipeline step. Reports medians over the runs, cold start and peak RSS of the server.
Run by hand; never a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import logging
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import sqlalchemy as sa
from telegram import Update

from bot.app import build
from bot.channels.telegram.client import MESSAGE_LIMIT
from bot.channels.telegram.convert import to_inbound
from bot.channels.text import split_text
from bot.config import PROJECT_ROOT, Settings
from bot.storage.database import create_engine
from bot.storage.tables import inbox, outbox

if str(PROJECT_ROOT) not in sys.path:  # tests.fakes and bench.engine when run as a script
    sys.path.insert(0, str(PROJECT_ROOT))

from bench.engine import LANGS, PG_ADMIN_URL, drop_postgres, postgres_url, sample_texts
from tests.fakes.telegram import FakeBotApi, JsonDict
from tests.fakes.telegram_updates import Updates
from tests.harness import free_port

SECRET = "bench-webhook-secret_0123456789"
TOKEN = "987654:BENCH-TOKEN"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
PRESSES = ("town:reutlingen", "town:metzingen", "cmd:menu", "topic:asylum.step.hearing")
# Left out of the questions: answers that depend on the clock, and intents that can hand the chat
# to a caseworker (after which Lotse stays silent, so an update would have no reply to time).
EXCLUDED_INTENTS = frozenset(
    {"counselling_hours", "integration_manager", "emergency", "human_handoff", "affirm"}
)
WAIT_FOR_REPLY = 15.0  # seconds before a user gives up waiting for a reply and goes on
SETTLE = 1.5  # seconds to wait after the last expected reply, for duplicates to show up

Step = tuple[str, str]  # (kind, value): text, command, callback or sticker


class BenchError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------- workload


@dataclass(frozen=True)
class Script:
    """One user's conversation, independent of user and update ids."""

    language: str
    steps: tuple[Step, ...]


def questions(rng: random.Random) -> dict[str, list[str]]:
    """Training examples per language, without EXCLUDED_INTENTS."""
    return sample_texts(rng, EXCLUDED_INTENTS)


def scripts(updates: int, users: int, seed: int) -> list[Script]:
    """`updates` spread evenly over `users`; each conversation starts with `/start <lang>`."""
    rng = random.Random(seed)
    texts = questions(rng)
    result = []
    for i in range(users):
        count = updates // users + (1 if i < updates % users else 0)
        if count == 0:
            continue
        lang = LANGS[i % len(LANGS)]
        steps: list[Step] = [("command", f"/start {lang}")]
        while len(steps) < count:
            roll = rng.random()
            if roll < 0.62:
                steps.append(("text", rng.choice(texts[lang])))
            elif roll < 0.82:
                steps.append(("callback", rng.choice(PRESSES)))
            elif roll < 0.90:
                steps.append(("sticker", ""))
            elif roll < 0.95:
                steps.append(("command", f"/start {lang}"))
            else:
                steps.append(("command", "/menu"))
        result.append(Script(lang, tuple(steps)))
    return result


def warmup_script() -> Script:
    """Two questions per language and a button: loads the model's code paths before measuring."""
    texts = questions(random.Random(1))
    steps: list[Step] = [("command", "/start de")]
    for lang in LANGS:
        steps += [("text", texts[lang][0]), ("text", texts[lang][1])]
    steps += [("callback", "town:reutlingen"), ("sticker", "")]
    return Script("de", tuple(steps))


def materialise(
    conversations: Sequence[Script], first_user: int, first_update: int
) -> dict[int, list[JsonDict]]:
    """Telegram updates for the scripts, user ids first_user, first_user + 1, ..."""
    builder = Updates(start_update_id=first_update)
    result: dict[int, list[JsonDict]] = {}
    for i, script in enumerate(conversations):
        user, lang = first_user + i, script.language
        updates = []
        for kind, value in script.steps:
            if kind == "text":
                updates.append(builder.text(user, value, language_code=lang))
            elif kind == "command":
                updates.append(builder.command(user, value, language_code=lang))
            elif kind == "callback":
                updates.append(builder.callback(user, value, language_code=lang))
            else:
                updates.append(builder.sticker(user, language_code=lang))
        result[user] = updates
    return result


def encoded(updates: dict[int, list[JsonDict]]) -> dict[int, list[bytes]]:
    return {user: [json.dumps(u).encode() for u in items] for user, items in updates.items()}


async def reference_counts(conversations: Sequence[Script], tmp: Path) -> list[list[int]]:
    """Messages per update when nothing goes wrong: the same updates through the same engine.

    Counted as sendMessage calls, i.e. after splitting long texts as the sender does.
    """
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp / 'reference.db'}", var_dir=tmp)
    with warnings.catch_warnings():  # Rasa's imports turn warnings back on (sanic, numpy, urllib3...)
        warnings.showwarning = _silent
        lotse = await build(settings)
    try:
        result = []
        for updates in materialise(conversations, 5_000_000_000, 1).values():
            counts = []
            for data in updates:
                received = to_inbound(Update.de_json(data, None))
                if received is None:
                    raise BenchError(f"update not answered by Lotse: {data}")
                reply = await lotse.engine.handle(received.inbound)
                counts.append(sum(len(split_text(m.text, MESSAGE_LIMIT)) for m in reply.messages))
            result.append(counts)
        return result
    finally:
        await lotse.close()


def _silent(*args: object, **kwargs: object) -> None:
    """A `warnings.showwarning` that shows nothing."""


# ------------------------------------------------------------------------------ the fake API


class RecordingBotApi(FakeBotApi):
    """The fake Bot API, also noting per chat when each sendMessage was answered (`Call.at`).

    A user waiting for its n-th message sets `targets[chat] = n`; the server thread then calls
    `wake(chat)` once the chat has that many, so the benchmark is woken once per update.
    """

    def _clear(self) -> None:
        super()._clear()
        self.arrivals: dict[int, list[float]] = {}
        self.targets: dict[int, int] = {}
        self.wake: Callable[[int], None] | None = None

    def _record(self, method: str, params: JsonDict, status: int, body: JsonDict) -> tuple[int, JsonDict]:
        result = super()._record(method, params, status, body)
        if method == "sendMessage" and status == 200:
            chat = int(params["chat_id"])
            with self._cond:
                arrived = self.arrivals.setdefault(chat, [])
                arrived.append(self._calls[-1].at)
                count = len(arrived)
            wake = self.wake
            if wake is not None and count >= self.targets.get(chat, sys.maxsize):
                wake(chat)
        return result

    def received(self, chat: int) -> int:
        return len(self.arrivals.get(chat, ()))

    def thread_id(self) -> int | None:
        thread = self._thread
        return thread.native_id if thread is not None else None


class Waiters:
    """Lets a user's coroutine wait (on the benchmark's loop) until its chat has n messages."""

    def __init__(self, fake: RecordingBotApi, loop: asyncio.AbstractEventLoop) -> None:
        self.fake = fake
        self.events: dict[int, asyncio.Event] = {}

        def wake(chat: int) -> None:  # called in the fake's thread
            loop.call_soon_threadsafe(self._set, chat)

        fake.wake = wake

    def _set(self, chat: int) -> None:
        event = self.events.get(chat)
        if event is not None:
            event.set()

    async def until(self, chat: int, count: int, timeout: float) -> bool:
        event = self.events.setdefault(chat, asyncio.Event())
        event.clear()
        self.fake.targets[chat] = count  # before looking, so that a wake in between is not missed
        deadline = time.monotonic() + timeout
        while self.fake.received(chat) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), min(left, 1.0))
            event.clear()
        return True


# ---------------------------------------------------------------------------------- the server


class Server:
    """`lotse serve` as a child process; stderr goes to a log file shown when it fails."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.database_url = env["DATABASE_URL"]
        self.process: subprocess.Popen[bytes] | None = None
        self.peak_rss = 0
        self._sampler: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> float:
        """Start the process and return the seconds until /healthz answered 200."""
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve", "--port", str(self.port)],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self._sampler = asyncio.create_task(self._sample_rss(psutil.Process(self.process.pid)))
        async with httpx.AsyncClient() as client:
            while time.monotonic() < started + 180:
                if self.process.poll() is not None:
                    raise BenchError(f"lotse serve exited with {self.process.returncode}:\n{self.tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"http://127.0.0.1:{self.port}/healthz")).status_code == 200:
                        return time.monotonic() - started
                await asyncio.sleep(0.05)
        raise BenchError(f"lotse serve did not become healthy:\n{self.tail()}")

    async def _sample_rss(self, process: psutil.Process) -> None:
        with contextlib.suppress(psutil.Error):
            while True:
                self.peak_rss = max(self.peak_rss, process.memory_info().rss)
                await asyncio.sleep(0.5)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    async def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, 20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def server_env(database_url: str, tmp: Path, fake: FakeBotApi, port: int, limits: bool) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOTSE_VAR_DIR": str(tmp),
        "TELEGRAM_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    env.pop("TELEGRAM_RATE", None)
    env.pop("TELEGRAM_CHAT_INTERVAL", None)
    if not limits:
        env["TELEGRAM_RATE"] = "100000"
        env["TELEGRAM_CHAT_INTERVAL"] = "0"
    return env


@contextlib.asynccontextmanager
async def fresh_database(backend: str, tmp: Path, name: str) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp / f'{name}.db'}"
        return
    url = await postgres_url()
    if url is None:
        raise BenchError(f"PostgreSQL not reachable at {PG_ADMIN_URL}")
    try:
        yield url
    finally:
        await drop_postgres(url)


# -------------------------------------------------------------------------------- measuring CPU


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds so far: the server (all threads, its event loop thread), this process's threads."""

    at: float
    server: float
    server_loop: float
    generator: float
    fake: float
    bench: float  # this whole process: generator, fake, and whatever else runs in it
    machine: float  # busy seconds summed over all cores


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine, summed over all cores."""
    times = psutil.cpu_times()
    return sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))


def cpu_sample(server: psutil.Process, fake_tid: int | None) -> CpuSample:
    me = psutil.Process()
    own = {t.id: t.user_time + t.system_time for t in me.threads()}
    mine = me.cpu_times()
    server_threads = {t.id: t.user_time + t.system_time for t in server.threads()}
    times = server.cpu_times()
    return CpuSample(
        at=time.monotonic(),
        server=times.user + times.system,
        server_loop=server_threads.get(server.pid, 0.0),
        generator=own.get(threading.main_thread().native_id or 0, 0.0),
        fake=own.get(fake_tid or -1, 0.0),
        bench=mine.user + mine.system,
        machine=machine_busy(),
    )


def cpu_percent(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """Percent of one core per part over the interval; `machine` is out of 100 x cores."""
    wall = max(after.at - before.at, 1e-9)
    names = ("server", "server_loop", "generator", "fake", "bench", "machine")
    shares = {name: 100 * (getattr(after, name) - getattr(before, name)) / wall for name in names}
    shares["others"] = max(0.0, shares["machine"] - shares["server"] - shares["bench"])
    return shares


# ---------------------------------------------------------------------------------- the phases


@dataclass
class PhaseResult:
    name: str
    updates: int
    wall: float
    latencies: list[float]  # ms, sorted
    lost: int
    duplicated: int
    rejected: int
    timeouts: int
    silent: int  # updates the reference answers with no message (no latency to measure)
    cpu: dict[str, float] = field(default_factory=dict)
    stages: dict[str, list[float]] = field(default_factory=dict)  # ms, sorted
    calls: dict[str, int] = field(default_factory=dict)  # successful Bot API calls by method
    rejections: dict[str, int] = field(default_factory=dict)  # webhook POSTs not answered 200, by cause

    @property
    def rate(self) -> float:
        return self.updates / self.wall if self.wall > 0 else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self.latencies, q)


def percentile(values: Sequence[float], q: float) -> float:
    """Of sorted values, as bench/engine.py takes them."""
    return values[int(q * (len(values) - 1))] if values else float("nan")


class Poster:
    """Posts updates to the webhook; a non-200 answer is retried, as Telegram redelivers.

    Users are spread over several clients: httpcore's pool looks at every connection of the pool on
    each request, so one pool of 200 connections would cost the generator more than the requests.
    """

    def __init__(self, clients: Sequence[httpx.AsyncClient], url: str) -> None:
        self.clients, self.url = clients, url
        self.failures: Counter[str] = Counter()  # why a POST was not answered 200: status or error
        self.durations: list[float] = []  # ms from POST to its 200

    @property
    def rejected(self) -> int:
        return sum(self.failures.values())

    async def post(self, body: bytes, user: int) -> bool:
        client = self.clients[user % len(self.clients)]
        for _ in range(6):
            started = time.monotonic()
            try:
                status = (await client.post(self.url, content=body, headers=HEADERS)).status_code
            except httpx.TransportError as exc:
                self.failures[type(exc).__name__] += 1
            else:
                if status == 200:
                    self.durations.append((time.monotonic() - started) * 1000)
                    return True
                self.failures[f"HTTP {status}"] += 1
            await asyncio.sleep(0.2)
        return False


@contextlib.asynccontextmanager
async def http_clients(users: int, per_client: int = 25) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Enough clients for `users` concurrent requests, `per_client` connections each."""
    count = max(1, -(-users // per_client))
    limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(httpx.AsyncClient(timeout=30, limits=limits))
            for _ in range(count)
        ]


async def closed_loop(
    poster: Poster,
    waiters: Waiters,
    user: int,
    updates: list[bytes],
    counts: list[int],
    starts: list[float],
) -> int:
    """Post update k, wait for its first reply, post k + 1; returns the number of timeouts."""
    timeouts, before = 0, 0
    for k, body in enumerate(updates):
        starts[k] = time.monotonic()
        await poster.post(body, user)
        if counts[k] and not await waiters.until(user, before + 1, WAIT_FOR_REPLY):
            timeouts += 1
        before += counts[k]
    return timeouts


async def paced(
    poster: Poster,
    user: int,
    updates: list[bytes],
    starts: list[float],
    t0: float,
    slot: int,
    users: int,
    rate: float,
) -> int:
    """Post update k at t0 + (k * users + slot) / rate, or after the previous one's 200 if later."""
    for k, body in enumerate(updates):
        delay = t0 + (k * users + slot) / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        starts[k] = time.monotonic()
        await poster.post(body, user)
    return 0


async def complete(fake: RecordingBotApi, expected: dict[int, int], timeout: float) -> None:
    """Wait until every chat has its expected count of messages (or the timeout is over)."""
    deadline = time.monotonic() + timeout
    while any(fake.received(u) < n for u, n in expected.items()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def phase(
    name: str,
    fake: RecordingBotApi,
    clients: Sequence[httpx.AsyncClient],
    url: str,
    server: Server,
    updates: dict[int, list[bytes]],
    counts: list[list[int]],
    rate: float | None,
) -> PhaseResult:
    """Post all updates (closed loop, or paced at `rate`) and measure what arrives at the fake."""
    poster = Poster(clients, url)
    waiters = Waiters(fake, asyncio.get_running_loop())
    users = list(updates)
    per_user = dict(zip(users, counts, strict=True))
    starts = {u: [0.0] * len(updates[u]) for u in users}
    process = psutil.Process(server.pid)
    calls_before = Counter(c.method for c in fake.calls if c.status == 200)
    before = cpu_sample(process, fake.thread_id())
    t0 = time.monotonic() + 0.01
    if rate is None:
        jobs = [closed_loop(poster, waiters, u, updates[u], per_user[u], starts[u]) for u in users]
    else:
        jobs = [paced(poster, u, updates[u], starts[u], t0, i, len(users), rate) for i, u in enumerate(users)]
    timeouts = sum(await asyncio.gather(*jobs))
    expected = {u: sum(per_user[u]) for u in users}
    await complete(fake, expected, timeout=30 + sum(expected.values()) / 50)
    after = cpu_sample(process, fake.thread_id())  # CPU over posting and delivering, not settling
    await asyncio.sleep(SETTLE)  # anything sent twice would arrive now
    fake.wake = None
    calls = Counter(c.method for c in fake.calls if c.status == 200) - calls_before

    latencies, firsts, silent = [], [], 0
    for u in users:
        arrived = fake.arrivals.get(u, [])
        index = 0
        for k, count in enumerate(per_user[u]):
            if count == 0:
                silent += 1
            elif index < len(arrived):
                latencies.append((arrived[index] - starts[u][k]) * 1000)
                firsts.append(arrived[index])
            index += count
    received = {u: fake.received(u) for u in users}
    wrong = [u for u in users if received[u] != expected[u]]
    for u in wrong[:5]:
        print(f"      chat {u}: expected {expected[u]} messages, received {received[u]}", flush=True)
    total = sum(len(v) for v in updates.values())
    wall = (max(firsts) - min(s for v in starts.values() for s in v)) if firsts else 0.0
    result = PhaseResult(
        name=name,
        updates=total,
        wall=wall,
        latencies=sorted(latencies),
        lost=sum(max(0, expected[u] - received[u]) for u in users),
        duplicated=sum(max(0, received[u] - expected[u]) for u in users),
        rejected=poster.rejected,
        rejections=dict(poster.failures),
        timeouts=timeouts,
        silent=silent,
        cpu=cpu_percent(before, after),
        stages={"webhook POST to 200": sorted(poster.durations)},
        calls=dict(calls),
    )
    result.stages.update(await pipeline_stages(server.database_url, users))
    return result


async def pipeline_stages(database_url: str, users: Sequence[int]) -> dict[str, list[float]]:
    """Where an update spends its time inside the server, from the inbox and outbox rows (ms, sorted).

    `done_at` of an inbox row and `created_at` of its replies are the moment the engine's turn began
    (after the claim); `sent_at` is when the sender got Telegram's answer.
    """
    chats = [str(u) for u in users]
    database = create_engine(database_url)
    try:
        async with database.connect() as conn:
            turns = (
                await conn.execute(
                    sa.select(inbox.c.chat_id, inbox.c.created_at, inbox.c.done_at).where(
                        inbox.c.channel == "telegram", inbox.c.chat_id.in_(chats)
                    )
                )
            ).all()
            replies = (
                await conn.execute(
                    sa.select(outbox.c.chat_id, outbox.c.created_at, outbox.c.sent_at).where(
                        outbox.c.channel == "telegram", outbox.c.chat_id.in_(chats)
                    )
                )
            ).all()
    finally:
        await database.dispose()
    first_sent: dict[tuple[str, Any], Any] = {}
    for chat, created, sent in replies:
        if sent is not None and ((chat, created) not in first_sent or sent < first_sent[chat, created]):
            first_sent[chat, created] = sent
    waiting, answering = [], []
    for chat, accepted, began in turns:
        if began is None:
            continue
        waiting.append((began - accepted).total_seconds() * 1000)
        sent = first_sent.get((chat, began))
        if sent is not None:
            answering.append((sent - began).total_seconds() * 1000)
    return {
        "accepted to turn begins (inbox wait, claim)": sorted(waiting),
        "turn begins to first sendMessage answered (NLU, turn, outbox wait, send)": sorted(answering),
    }


# ----------------------------------------------------------------------------------- profiling


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


# Where a sample of the server's GIL-holding thread belongs, by the frames on its stack (first match).
# SQLAlchemy's async layer runs statements in greenlets, whose stacks do not show the caller.
PROFILE_STEPS: tuple[tuple[str, str], ...] = (
    ("NLU: Rasa parse", "rasa/"),
    ("webhook: parse the update, insert into inbox", "bot/channels/telegram/webhook.py"),
    ("worker: answerCallbackQuery", "acknowledge (bot/channels/telegram/client.py"),
    ("worker: sendChatAction (typing)", "show_typing (bot/channels/telegram/client.py"),
    ("worker: prepare (answerCallbackQuery, sendChatAction)", "prepare (bot/channels/telegram/client.py"),
    ("worker: claim_inbox", "claim_inbox (bot/storage"),
    ("engine turn without NLU (dialogue, state, transaction)", "handle (bot/engine/engine.py"),
    ("sender: sendMessage through python-telegram-bot", "send (bot/channels/telegram/client.py"),
    ("sender: claim_outbox", "claim_outbox (bot/storage"),
    ("sender: mark sent", "sent (bot/storage/deliveries.py"),
    ("/healthz", "health (bot/web/server.py"),
)
LIBRARY_STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SQLAlchemy/aiosqlite in a greenlet (caller not visible)", ("sqlalchemy/", "aiosqlite/")),
    ("httpx/httpcore in a task of its own (Bot API requests; caller not visible)", ("httpcore/", "httpx/")),
    ("HTTP server: uvicorn, starlette, httptools", ("uvicorn/", "starlette/", "httptools", "h11/")),
    ("asyncio event loop", ("asyncio/",)),
)


def profile_step(frames: Sequence[str]) -> str:
    stack = ";".join(frames)
    if frames[0].startswith("_bootstrap (") or "threading.py" in frames[0]:
        return "other threads (aiosqlite workers, ...) holding the GIL"
    for label, marker in PROFILE_STEPS:
        if marker in stack:
            return label
    bot = [f for f in frames if f.startswith(("bot/", "<module> (bot/")) or " (bot/" in f]
    bot = [f for f in bot if "bot/cli.py" not in f]
    if bot:
        return f"other bot code: {bot[-1]}"
    for label, markers in LIBRARY_STEPS:
        if any(m in stack for m in markers):
            return label
    return f"other: {frames[-1]}"


def summarise_profile(path: Path, top: int = 15) -> str:
    """Samples per pipeline step and the functions with the most own samples (py-spy's raw format)."""
    steps: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        frames = [_short(f.strip()) for f in stack.split(";") if f.strip()]
        if not frames or not number.isdigit():
            continue
        samples = int(number)
        total += samples
        steps[profile_step(frames)] += samples
        own[re.sub(r":\d+\)$", ")", frames[-1])] += samples
    if total == 0:
        return "no samples"
    lines = [f"{total} samples of the thread holding the GIL; by pipeline step:"]
    shown = [(step, n) for step, n in steps.most_common() if n >= total / 200]
    rest = total - sum(n for _, n in shown)
    lines += [f"  {100 * n / total:5.1f}%  {step}" for step, n in shown]
    lines.append(f"  {100 * rest / total:5.1f}%  the rest (each under 0.5%)")
    lines.append("functions with the most own samples:")
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """`func (/long/path/site-packages/pkg/mod.py:12)` as `func (pkg/mod.py:12)`."""
    match = re.match(r"(.*) \((.*):(\d+)\)$", frame)
    if not match:
        return frame
    func, path, line = match.groups()
    path = re.sub(r"^.*/(site-packages|python3\.\d+)/", "", path)
    path = path.removeprefix(str(PROJECT_ROOT) + "/")
    return f"{func} ({path}:{line})"


# --------------------------------------------------------------------------------------- runs


@dataclass
class RunResult:
    cold_start: float
    peak_rss_mb: float
    phases: list[PhaseResult]


@dataclass
class LimiterResult:
    messages: int
    sustained_rate: float
    busiest_second: int
    min_gap: float
    short_gaps: int  # gaps under 0.95 s between two messages to one chat
    lost: int
    duplicated: int
    rejected: int
    duration: float


async def run_once(
    args: argparse.Namespace,
    number: int,
    fake: RecordingBotApi,
    tmp: Path,
    phases: list[tuple[str, dict[int, list[bytes]], list[list[int]], float | None]],
    profile: Path | None,
) -> RunResult:
    fake.reset()
    port = free_port()
    async with fresh_database(args.backend, tmp, f"run{number}") as database_url:
        env = server_env(database_url, tmp, fake, port, limits=False)
        server = Server(env, port, tmp / f"serve{number}.log")
        try:
            code = revision()
            cold = await server.start()
            print(
                f"run {number}: lotse serve pid {server.pid} (code {code}) healthy after {cold:.1f} s",
                flush=True,
            )
            url = f"http://127.0.0.1:{port}/telegram/webhook"
            results = []
            async with http_clients(args.users) as clients:
                for name, updates, counts, rate in phases:
                    spy = None
                    if profile is not None and name == "burst":
                        spy = start_profiler(server.pid, profile)
                    result = await phase(name, fake, clients, url, server, updates, counts, rate)
                    if spy is not None:
                        stop_profiler(spy)
                    if name != "warm-up":
                        results.append(result)
                        print_phase(number, result)
            report_log(server)
            return RunResult(cold, server.peak_rss / 2**20, results)
        except BaseException:
            print(server.tail(), file=sys.stderr)
            raise
        finally:
            await server.stop()


def revision() -> str:
    """The commit the server runs, and whether bot/ differs from it (others may edit meanwhile)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "bot", "pyproject.toml"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+changes" if changed else head


def report_log(server: Server) -> None:
    """Errors and warnings the server logged (lotse serve logs bot.* from WARNING up)."""
    text = server.log.read_text(errors="replace")
    lines = [line for line in text.splitlines() if re.match(r"(ERROR|WARNING|CRITICAL|Traceback)", line)]
    if lines:
        print(f"      lotse serve logged {len(lines)} problems; the first: {lines[0][:200]}", flush=True)


def start_profiler(pid: int, output: Path) -> subprocess.Popen[bytes] | None:
    binary = py_spy()
    if binary is None:
        print("py-spy not found; `.venv/bin/pip install py-spy` to profile", flush=True)
        return None
    command = [binary, "record", "--pid", str(pid), "--format", "raw", "--output", str(output)]
    command += ["--rate", "200", "--nonblocking", "--gil"]  # samples of the thread holding the GIL
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)  # let it attach
    return spy


def stop_profiler(spy: subprocess.Popen[bytes]) -> None:
    spy.send_signal(signal.SIGINT)
    try:
        _, err = spy.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        spy.kill()
        _, err = spy.communicate()
    if spy.returncode not in (0, -signal.SIGINT):
        print(f"py-spy ended with {spy.returncode}: {err.decode(errors='replace')[-500:]}", flush=True)


async def limiter_run(
    args: argparse.Namespace,
    fake: RecordingBotApi,
    tmp: Path,
    conversations: Sequence[Script],
    counts: list[list[int]],
) -> LimiterResult:
    """Telegram's real limits: every user posts all its updates at once (in order, after each 200)."""
    fake.reset()
    port = free_port()
    updates = encoded(materialise(conversations, 7_300_000_000, 3_000_000))
    users = list(updates)
    expected = {u: sum(c) for u, c in zip(users, counts, strict=True)}
    async with fresh_database(args.backend, tmp, "limiter") as database_url:
        server = Server(server_env(database_url, tmp, fake, port, limits=True), port, tmp / "limiter.log")
        try:
            await server.start()
            url = f"http://127.0.0.1:{port}/telegram/webhook"
            async with http_clients(len(users)) as clients:
                poster = Poster(clients, url)

                async def post_all(user: int) -> None:
                    for body in updates[user]:
                        await poster.post(body, user)

                started = time.monotonic()
                await asyncio.gather(*(post_all(u) for u in users))
                await complete(fake, expected, timeout=60 + sum(expected.values()) / 10)
                await asyncio.sleep(SETTLE)
                report_log(server)
        except BaseException:
            print(server.tail(), file=sys.stderr)
            raise
        finally:
            await server.stop()
    sends = [c for c in fake.calls if c.method == "sendMessage" and c.status == 200]
    times = sorted(c.at for c in sends)
    per_chat: dict[str, list[float]] = {}
    for call in sends:
        per_chat.setdefault(str(call.params["chat_id"]), []).append(call.at)
    gaps = [b - a for ats in per_chat.values() for a, b in itertools.pairwise(ats)]
    busiest = 0
    low = 0
    for high, moment in enumerate(times):
        while times[low] <= moment - 1.0:
            low += 1
        busiest = max(busiest, high - low + 1)
    # after the first second: the bucket starts full, so the first second may carry a burst
    later = [t for t in times if t >= times[0] + 1.0] if times else []
    sustained = (len(later) - 1) / (later[-1] - later[0]) if len(later) > 1 else float("nan")
    received = {u: fake.received(u) for u in users}
    return LimiterResult(
        messages=len(times),
        sustained_rate=sustained,
        busiest_second=busiest,
        min_gap=min(gaps) if gaps else float("nan"),
        short_gaps=sum(1 for g in gaps if g < 0.95),
        lost=sum(max(0, expected[u] - received[u]) for u in users),
        duplicated=sum(max(0, received[u] - expected[u]) for u in users),
        rejected=poster.rejected,
        duration=(times[-1] - started) if times else 0.0,
    )


# ------------------------------------------------------------------------------------ output


def print_phase(number: int, r: PhaseResult) -> None:
    cpu = r.cpu
    print(
        f"run {number} {r.name:<6} {r.updates} updates in {r.wall:.1f} s: {r.rate:.1f} updates/s,"
        f" p50 {r.percentile(0.5):.0f} / p95 {r.percentile(0.95):.0f} / p99 {r.percentile(0.99):.0f}"
        f" / max {r.percentile(1.0):.0f} ms; lost {r.lost}, duplicated {r.duplicated},"
        f" rejected {r.rejected}, timeouts {r.timeouts}, silent {r.silent}",
        flush=True,
    )
    print(
        f"      CPU (% of one core): server {cpu['server']:.0f} (event loop thread {cpu['server_loop']:.0f}),"
        f" load generator {cpu['generator']:.0f}, fake Bot API thread {cpu['fake']:.0f}"
        f" (this process {cpu['bench']:.0f}), other processes {cpu['others']:.0f};"
        f" machine {cpu['machine']:.0f} of {100 * (psutil.cpu_count() or 1)}",
        flush=True,
    )
    per_update = ", ".join(f"{method} {n / r.updates:.2f}" for method, n in sorted(r.calls.items()))
    print(f"      Bot API calls per update: {per_update}", flush=True)
    if r.rejections:
        causes = ", ".join(f"{cause} x{n}" for cause, n in sorted(r.rejections.items()))
        print(f"      webhook POSTs retried: {causes}", flush=True)
    for stage, values in r.stages.items():
        print(
            f"      {stage}: p50 {percentile(values, 0.5):.0f}, p99 {percentile(values, 0.99):.0f} ms",
            flush=True,
        )


def table(rows: list[tuple[str, str, str, str]]) -> str:
    lines = ["| metric | value | target | met |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def report(args: argparse.Namespace, runs: list[RunResult], limiter: LimiterResult | None) -> str:
    def median(name: str, pick: Callable[[PhaseResult], float]) -> float:
        return statistics.median(pick(p) for r in runs for p in r.phases if p.name == name)

    def latency(name: str, q: float) -> float:
        return median(name, lambda p: p.percentile(q))

    def total(pick: Callable[[PhaseResult], int]) -> int:
        return sum(pick(p) for r in runs for p in r.phases)

    rows: list[tuple[str, str, str, str]] = []
    rate, p99 = median("burst", lambda p: p.rate), latency("burst", 0.99)
    rows.append(
        (f"burst: updates/s ({args.users} users, closed loop)", f"{rate:.1f}", "≥ 200", yes(rate >= 200))
    )
    rows.append(("burst: p50 latency ms", f"{latency('burst', 0.5):.1f}", "", ""))
    rows.append(("burst: p95 latency ms", f"{latency('burst', 0.95):.1f}", "", ""))
    rows.append(("burst: p99 latency ms", f"{p99:.1f}", "< 100", yes(p99 < 100)))
    if args.rate:
        paced_rate, paced_p99 = median("paced", lambda p: p.rate), latency("paced", 0.99)
        offered = f"{args.rate:g}"
        ok = paced_rate >= 0.97 * args.rate
        rows.append(
            (f"paced: updates/s achieved (offered {offered})", f"{paced_rate:.1f}", f"≈ {offered}", yes(ok))
        )
        rows.append(("paced: p50 latency ms", f"{latency('paced', 0.5):.1f}", "", ""))
        rows.append(("paced: p95 latency ms", f"{latency('paced', 0.95):.1f}", "", ""))
        rows.append(("paced: p99 latency ms", f"{paced_p99:.1f}", "< 100", yes(paced_p99 < 100)))
    lost, duplicated = total(lambda p: p.lost), total(lambda p: p.duplicated)
    rows.append(("lost replies (all runs and phases)", str(lost), "0", yes(lost == 0)))
    rows.append(("duplicated replies (all runs and phases)", str(duplicated), "0", yes(duplicated == 0)))
    rejected = total(lambda p: p.rejected)
    rows.append(("webhook POSTs not answered 200", str(rejected), "0", yes(rejected == 0)))
    rows.append(
        (
            "cold start s (process start to /healthz 200)",
            f"{statistics.median(r.cold_start for r in runs):.1f}",
            "",
            "",
        )
    )
    rows.append(
        ("peak RSS of lotse serve MB", f"{statistics.median(r.peak_rss_mb for r in runs):.0f}", "", "")
    )
    if limiter is not None:
        rows.append(
            (
                "limiter: sustained send rate msg/s (after the 1st s)",
                f"{limiter.sustained_rate:.1f}",
                "≤ 30",
                yes(limiter.sustained_rate <= 30.5),
            )
        )
        rows.append(
            (
                "limiter: busiest 1 s window, messages",
                str(limiter.busiest_second),
                "≤ 30",
                yes(limiter.busiest_second <= 30),
            )
        )
        rows.append(
            (
                "limiter: shortest gap between messages to one chat s",
                f"{limiter.min_gap:.3f}",
                "≥ 1",
                yes(limiter.min_gap >= 0.95),
            )
        )
        rows.append(
            (
                "limiter: lost / duplicated replies",
                f"{limiter.lost} / {limiter.duplicated}",
                "0 / 0",
                yes(limiter.lost == limiter.duplicated == 0),
            )
        )
    return table(rows)


# -------------------------------------------------------------------------------------- main


def lighten_generator() -> None:
    """httpcore imports sniffio on every request; without it installed, each failed import searches
    sys.path. In this process only (the server is left as it is), make that import fail at once."""
    if importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def quiet() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.ERROR)
    for name in ("rasa", "tensorflow", "absl", "alembic", "apscheduler"):
        logging.getLogger(name).setLevel(logging.ERROR)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rate", type=float, default=200.0, help="updates/s of the paced phase (0: skip it)")
    parser.add_argument("--limit-users", type=int, default=40, help="users of the limiter run (0: skip it)")
    parser.add_argument("--limit-messages", type=int, default=5, help="updates per user in the limiter run")
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 500 updates, 1 run, 10 limiter users"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--profile", type=Path, help="py-spy the server during run 1's burst, raw output here"
    )
    args = parser.parse_args()
    if args.quick:
        args.updates, args.runs, args.limit_users = 500, 1, min(args.limit_users, 10)
    quiet()
    lighten_generator()

    conversations = scripts(args.updates, args.users, args.seed)
    limiter_conversations = scripts(args.limit_users * args.limit_messages, args.limit_users, args.seed + 1)
    warmup = [warmup_script()]
    with tempfile.TemporaryDirectory(prefix="lotse-bench-") as tmpdir:
        tmp = Path(tmpdir)
        started = time.monotonic()
        counts = await reference_counts([*warmup, *conversations, *limiter_conversations], tmp)
        warmup_counts, counts, limiter_counts = (
            counts[:1],
            counts[1 : 1 + len(conversations)],
            counts[1 + len(conversations) :],
        )
        replies = sum(map(sum, counts))
        print(
            f"reference replay: {args.updates} updates from {len(conversations)} users -> {replies} messages"
            f" ({replies / args.updates:.2f} per update) in {time.monotonic() - started:.0f} s",
            flush=True,
        )
        phases: list[tuple[str, dict[int, list[bytes]], list[list[int]], float | None]] = [
            ("warm-up", encoded(materialise(warmup, 7_000_000_001, 900_000)), warmup_counts, None),
            ("burst", encoded(materialise(conversations, 7_100_000_000, 1_000_000)), counts, None),
        ]
        if args.rate:
            paced_updates = encoded(materialise(conversations, 7_200_000_000, 2_000_000))
            phases.append(("paced", paced_updates, counts, args.rate))
        print(
            f"backend {args.backend}; {args.runs} run(s); {psutil.cpu_count()} cores shared by lotse serve,"
            " the load generator and the fake Bot API (a thread of this process)",
            flush=True,
        )
        fake = RecordingBotApi(token=TOKEN)
        fake.start()
        try:
            runs = []
            for number in range(1, args.runs + 1):
                profile = args.profile if number == 1 else None
                runs.append(await run_once(args, number, fake, tmp, phases, profile))
            limiter = None
            if args.limit_users:
                limiter = await limiter_run(args, fake, tmp, limiter_conversations, limiter_counts)
                print(
                    f"limiter: {args.limit_users} users x {args.limit_messages} updates -> {limiter.messages}"
                    f" messages delivered in {limiter.duration:.1f} s; sustained {limiter.sustained_rate:.1f}/s,"
                    f" busiest second {limiter.busiest_second}, shortest gap per chat {limiter.min_gap:.3f} s"
                    f" ({limiter.short_gaps} under 0.95 s), lost {limiter.lost}, duplicated {limiter.duplicated},"
                    f" rejected {limiter.rejected}",
                    flush=True,
                )
        finally:
            fake.stop()
    print()
    print(f"medians over {len(runs)} run(s), {args.backend}, {args.updates} updates from {args.users} users:")
    print(report(args, runs, limiter))
    if args.profile is not None and args.profile.exists():
        print()
        print(f"profile of lotse serve during run 1's burst ({args.profile}):")
        print(summarise_profile(args.profile))


if __name__ == "__main__":
    asyncio.run(main())
