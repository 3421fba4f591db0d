"""WhatsApp end to end: signed webhook POSTs into Lotse's service, answers counted at a fake Graph API.

What a WhatsApp user waits for is not the engine's turn alone: Meta posts the message to the
webhook, Lotse checks the signature, stores the message in the inbox and answers 200; the worker
takes it up, runs the engine, writes the replies to the outbox; the sender posts them to the Graph
API, and Meta then posts "sent" and "delivered" statuses back to the same webhook. This benchmark
times that whole path, and checks the two promises the inbox makes on the way: every message gets
its answer (none lost), and a message Meta delivers twice is answered once (none duplicated).

    .venv/bin/python bench/whatsapp_webhook.py                       # SQLite, 2000 messages, 50 users
    .venv/bin/python bench/whatsapp_webhook.py --quick               # smoke test: 300 messages, 20 users
    .venv/bin/python bench/whatsapp_webhook.py --backend postgresql  # fresh database on LOTSE_TEST_PG
    .venv/bin/python bench/whatsapp_webhook.py --no-statuses         # without Meta's status callbacks

The service runs in this process (tests.harness.running_service: the app, pipeline and channels of
`lotse serve` under uvicorn on a free port), on the same event loop as the load generator; the fake
Graph API (tests/fakes/whatsapp.py) runs in a thread of this process with a loop of its own. So all
three share one interpreter and one GIL, and the figures are those of one Python process on this
machine, not of a separate `lotse serve` (bench/telegram_webhook.py measures that for Telegram).

The users' conversations are those of bench/telegram_webhook.py in all seven languages (questions
from nlu/<lang>.yml, typed commands such as `/start fa`, button replies and stickers), turned into
Meta's webhook payloads (tests/fakes/whatsapp_payloads.py) and signed with the app secret. Each
user posts its next message once the first reply to the previous one has arrived at the fake (a
closed loop: at most one message per user in flight), so throughput = messages / (first POST to the
last first reply) is the capacity at that many users. A share of the messages (--redeliver) is
posted a second time with the same wamid and signature, as Meta delivers again when it missed the
200: half right after the first 200 (while Lotse works on it), half after the first reply.

Measured per message: acknowledgement latency (POST until its 200) and end-to-end latency (POST
until the Graph API accepted the first message of its answer). Which reply belongs to which
message is known because the same conversations are first replayed through the engine on a fresh
SQLite database: that gives the number of WhatsApp messages each one produces (after splitting
and WhatsApp's button and list layout), and per user the service's replies must match those
counts (lost = missing, duplicated = extra). Texts are not compared: some depend on the clock.

Run by hand; never a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import resource
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import build, load_understanding
from bot.channels.text import split_text
from bot.channels.whatsapp.convert import read_notification
from bot.channels.whatsapp.layout import INTERACTIVE_BODY_LIMIT, TEXT_LIMIT, Labels, messages_for
from bot.config import PROJECT_ROOT, Settings
from bot.engine.messages import Outbound
from bot.engine.understanding import Understanding
from bot.storage.tables import inbox, outbox

if str(PROJECT_ROOT) not in sys.path:  # tests.* and bench.* when run as a script
    sys.path.insert(0, str(PROJECT_ROOT))

from bench.mailbox import Arrival, Mailbox, more_than
from bench.telegram_webhook import (
    SETTLE,
    WAIT_FOR_REPLY,
    BenchError,
    Script,
    Step,
    _silent,
    fresh_database,
    http_clients,
    lighten_generator,
    machine_busy,
    percentile,
    quiet,
    revision,
    scripts,
    warmup_script,
)
from tests.fakes.whatsapp import FakeGraphApi, Sent
from tests.fakes.whatsapp_payloads import Built, JsonDict, Webhooks
from tests.harness import WHATSAPP_VERIFY_TOKEN, running_service, whatsapp_settings

APP_SECRET = "bench-app-secret_0123456789"
REFERENCE_USERS = 491700000000  # wa_ids of the reference replay
WARMUP_USERS = 491500000000  # of the warm-up
USERS = 491510000000  # of the measured conversations


# ---------------------------------------------------------------------------------- workload


@dataclass(frozen=True)
class Delivery:
    """One webhook POST as Meta makes it: the exact bytes and their signature.

    `redeliver` says whether Meta posts it a second time: None, "early" (right after the 200) or
    "late" (after the first reply arrived).
    """

    body: bytes
    headers: dict[str, str]
    redeliver: str | None = None


def payload(webhooks: Webhooks, wa_id: str, step: Step) -> Built:
    """A step of a bench/telegram_webhook.py conversation as the WhatsApp user sends it."""
    kind, value = step
    if kind in ("text", "command"):  # WhatsApp has no commands; the engine reads typed ones alike
        return webhooks.text(wa_id, value)
    if kind == "callback":  # a reply button Lotse offered; the title is only shown, the id counts
        return webhooks.button_reply(wa_id, value, value.rsplit(":", 1)[-1][:20])
    return webhooks.sticker(wa_id)


def materialise(
    conversations: Sequence[Script], graph: FakeGraphApi, first_user: int, redeliver: float, seed: int
) -> dict[str, list[Delivery]]:
    """Signed POSTs for the scripts from wa_ids first_user, first_user + 1, ...; some to redeliver."""
    rng = random.Random(seed)
    result: dict[str, list[Delivery]] = {}
    flip = 0
    for i, script in enumerate(conversations):
        wa_id = str(first_user + i)
        deliveries = []
        for step in script.steps:
            built = payload(graph.webhooks, wa_id, step)
            again = None
            if rng.random() < redeliver:
                again, flip = ("early", "late")[flip], 1 - flip
            deliveries.append(Delivery(built.body, built.headers(graph.app_secret), again))
        result[wa_id] = deliveries
    return result


def whatsapp_messages(message: Outbound) -> int:
    """How many Graph API sends carry one of Lotse's messages: as the sender splits and the channel lays out."""
    if message.template is not None:
        return 1
    shorter = INTERACTIVE_BODY_LIMIT if message.buttons else None
    parts = split_text(message.text, TEXT_LIMIT, last_limit=shorter)
    labels = Labels(open_list="Auswählen", more="Weitere Möglichkeiten:")  # words do not change counts
    return len(parts) - 1 + len(messages_for(parts[-1], message.buttons, labels))


async def reference_counts(
    conversations: Sequence[Script], understanding: Understanding, graph: FakeGraphApi, tmp: Path
) -> list[list[int]]:
    """WhatsApp messages per inbound message when nothing goes wrong: the same messages through the
    same engine, read from the same webhook payloads."""
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp / 'reference.db'}", var_dir=tmp, translation_provider="none"
    )
    lotse = await build(settings, understanding)
    try:
        result = []
        for i, script in enumerate(conversations):
            wa_id = str(REFERENCE_USERS + i)
            counts = []
            for step in script.steps:
                data = json.loads(payload(graph.webhooks, wa_id, step).body)
                received = read_notification(data, graph.phone_number_id).received
                if len(received) != 1:
                    raise BenchError(f"{step} is not one message to Lotse: {data}")
                reply = await lotse.engine.handle(received[0].inbound)
                counts.append(sum(whatsapp_messages(m) for m in reply.messages))
            result.append(counts)
        return result
    finally:
        await lotse.close()


# ------------------------------------------------------------------------------ the fake API


class RecordingGraphApi(FakeGraphApi):
    """The fake Graph API, also noting per user when each delivered message was accepted (`Sent.at`).

    A user waiting for its n-th message awaits `until(wa_id, n)`; the mailbox wakes it once the fake's
    thread has accepted that message, so the benchmark is woken once per message instead of polling.
    """

    def _clear(self) -> None:
        super()._clear()
        self.mailbox = Mailbox()

    def _answer(self, kind: str, body: JsonDict) -> tuple[JsonDict, Sent | None]:
        result, sent = super()._answer(kind, body)
        if sent is not None and sent.in_window:
            self.mailbox.deliver(sent.to, Arrival(sent.at, "", ()))
        return result, sent

    def received(self, wa_id: str) -> int:
        return self.mailbox.count(wa_id)

    def arrival_times(self, wa_id: str) -> list[float]:
        return [arrival.at for arrival in self.mailbox.arrivals(wa_id)]

    async def until(self, wa_id: str, count: int, timeout: float) -> bool:
        """Wait until `wa_id` has received `count` messages; False when `timeout` seconds passed first."""
        return await self.mailbox.until(wa_id, more_than(count - 1), timeout)

    def thread_id(self) -> int | None:
        thread = self._thread
        return thread.native_id if thread is not None else None


# ---------------------------------------------------------------------------------- the phase


class Poster:
    """Posts signed notifications to the webhook; a non-200 answer is posted again, as Meta does.

    Users are spread over several clients, as in bench/telegram_webhook.py.
    """

    def __init__(self, clients: Sequence[httpx.AsyncClient], url: str) -> None:
        self.clients, self.url = clients, url
        self.failures: Counter[str] = Counter()  # why a POST was not answered 200: status or error

    @property
    def rejected(self) -> int:
        return sum(self.failures.values())

    async def post(self, delivery: Delivery, user: int) -> float | None:
        """Milliseconds from the first attempt to the 200, or None when six attempts failed."""
        client = self.clients[user % len(self.clients)]
        started = time.monotonic()
        for _ in range(6):
            try:
                response = await client.post(self.url, content=delivery.body, headers=delivery.headers)
            except httpx.TransportError as exc:
                self.failures[type(exc).__name__] += 1
            else:
                if response.status_code == 200:
                    return (time.monotonic() - started) * 1000
                self.failures[f"HTTP {response.status_code}"] += 1
            await asyncio.sleep(0.2)
        return None


@dataclass
class Conversation:
    """What one user saw: when it posted each message, and how long each POST took to its 200."""

    starts: list[float]
    acks: list[float] = field(default_factory=list)  # ms, first deliveries
    redelivery_acks: list[float] = field(default_factory=list)  # ms, second deliveries
    timeouts: int = 0


async def converse(
    poster: Poster,
    graph: RecordingGraphApi,
    index: int,
    wa_id: str,
    deliveries: Sequence[Delivery],
    counts: Sequence[int],
    timeout: float,
) -> Conversation:
    """Post message k, wait for its first reply, post k + 1 (redelivering where the script says so)."""
    seen = Conversation(starts=[0.0] * len(deliveries))
    before = 0
    for k, delivery in enumerate(deliveries):
        seen.starts[k] = time.monotonic()
        ack = await poster.post(delivery, index)
        if ack is not None:
            seen.acks.append(ack)
        if delivery.redeliver == "early":
            await redeliver(poster, delivery, index, seen)
        if counts[k] and not await graph.until(wa_id, before + 1, timeout):
            seen.timeouts += 1
        if delivery.redeliver == "late":
            await redeliver(poster, delivery, index, seen)
        before += counts[k]
    return seen


async def redeliver(poster: Poster, delivery: Delivery, index: int, seen: Conversation) -> None:
    ack = await poster.post(delivery, index)
    if ack is not None:
        seen.redelivery_acks.append(ack)


async def complete(graph: RecordingGraphApi, expected: dict[str, int], timeout: float) -> None:
    """Wait until every user has its expected count of messages (or the timeout is over)."""
    deadline = time.monotonic() + timeout
    while any(graph.received(u) < n for u, n in expected.items()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds so far: this process, its event loop (service and load generator), the fake's
    thread, and all cores of the machine."""

    at: float
    process: float
    loop: float
    fake: float
    machine: float


def cpu_sample(fake_tid: int | None) -> CpuSample:
    me = psutil.Process()
    threads = {t.id: t.user_time + t.system_time for t in me.threads()}
    times = me.cpu_times()
    return CpuSample(
        at=time.monotonic(),
        process=times.user + times.system,
        loop=threads.get(threading.main_thread().native_id or 0, 0.0),
        fake=threads.get(fake_tid or -1, 0.0),
        machine=machine_busy(),
    )


def cpu_percent(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """Percent of one core per part over the interval; `machine` is out of 100 x cores."""
    wall = max(after.at - before.at, 1e-9)
    names = ("process", "loop", "fake", "machine")
    shares = {name: 100 * (getattr(after, name) - getattr(before, name)) / wall for name in names}
    shares["other threads"] = max(0.0, shares["process"] - shares["loop"] - shares["fake"])
    shares["other processes"] = max(0.0, shares["machine"] - shares["process"])
    return shares


@dataclass
class Result:
    messages: int
    users: int
    wall: float
    acks: list[float]  # ms, sorted
    latencies: list[float]  # ms, sorted: POST to the first reply at the fake
    lost: int  # reply messages that never arrived
    unanswered: int  # messages whose first reply never arrived
    duplicated: int  # reply messages beyond the expected count
    timeouts: int  # messages whose first reply took longer than the user waited
    silent: int  # messages the reference answers with no message (no latency to measure)
    redelivered: int
    redelivery_acks: list[float]  # ms, sorted
    rejected: int
    rejections: dict[str, int]
    inbox_rows: int
    outbox_rows: int
    outbox_sent: int
    outbox_delivered: int  # rows whose "delivered" status callback was recorded
    receipts_missed: int  # sent rows whose "delivered" callback was answered 200 but not recorded
    status_posts: int
    status_posts_failed: int  # status callbacks the webhook did not answer 200
    calls: dict[str, int]  # Graph API requests by kind and HTTP status
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.messages / self.wall if self.wall > 0 else 0.0


async def measure(
    graph: RecordingGraphApi,
    clients: Sequence[httpx.AsyncClient],
    url: str,
    database: AsyncEngine,
    deliveries: dict[str, list[Delivery]],
    counts: Sequence[Sequence[int]],
    timeout: float,
) -> Result:
    """The measured phase: post, wait for the replies and the status callbacks, then count."""
    poster = Poster(clients, url)
    users = list(deliveries)
    per_user = dict(zip(users, counts, strict=True))
    for wa_id in users:  # each user wrote just now, as far as the 24-hour window is concerned
        graph.set_last_user_message(wa_id, graph.now())
    before = cpu_sample(graph.thread_id())
    jobs = [converse(poster, graph, i, u, deliveries[u], per_user[u], timeout) for i, u in enumerate(users)]
    seen = dict(zip(users, await asyncio.gather(*jobs), strict=True))
    expected = {u: sum(per_user[u]) for u in users}
    await complete(graph, expected, timeout=30 + sum(expected.values()) / 50)
    after = cpu_sample(graph.thread_id())  # CPU over posting and delivering, not settling
    await asyncio.sleep(SETTLE)  # anything sent twice would arrive now
    await asyncio.to_thread(graph.settle, 30.0)  # the last status callbacks

    latencies, firsts, silent, unanswered = [], [], 0, 0
    for u in users:
        arrived = graph.arrival_times(u)
        index = 0
        for k, count in enumerate(per_user[u]):
            if count == 0:
                silent += 1
            elif index < len(arrived):
                latencies.append((arrived[index] - seen[u].starts[k]) * 1000)
                firsts.append(arrived[index])
            else:
                unanswered += 1
            index += count
    received = {u: graph.received(u) for u in users}
    for u in [u for u in users if received[u] != expected[u]][:5]:
        print(f"      {u}: expected {expected[u]} messages, received {received[u]}", flush=True)
    posts = graph.webhook_posts
    statuses = [  # to the measured users: a warm-up callback already on the wire may still come
        (post, entry)
        for post in posts
        for entry in post.payload["entry"][0]["changes"][0]["value"].get("statuses", [])
        if entry["recipient_id"] in per_user
    ]
    delivered = {e["id"] for p, e in statuses if e["status"] == "delivered" and p.status == 200}
    calls = Counter(f"{c.kind} {c.status}" for c in graph.calls)
    rows = await database_counts(database, users, delivered)
    wall = (max(firsts) - min(s for c in seen.values() for s in c.starts)) if firsts else 0.0
    return Result(
        messages=sum(len(d) for d in deliveries.values()),
        users=len(users),
        wall=wall,
        acks=sorted(a for c in seen.values() for a in c.acks),
        latencies=sorted(latencies),
        lost=sum(max(0, expected[u] - received[u]) for u in users),
        unanswered=unanswered,
        duplicated=sum(max(0, received[u] - expected[u]) for u in users),
        timeouts=sum(c.timeouts for c in seen.values()),
        silent=silent,
        redelivered=sum(1 for d in deliveries.values() for x in d if x.redeliver),
        redelivery_acks=sorted(a for c in seen.values() for a in c.redelivery_acks),
        rejected=poster.rejected,
        rejections=dict(poster.failures),
        inbox_rows=rows["inbox"],
        outbox_rows=rows["outbox"],
        outbox_sent=rows["sent"],
        outbox_delivered=rows["delivered"],
        receipts_missed=rows["missed"],
        status_posts=len(statuses),
        status_posts_failed=sum(1 for p, _ in statuses if p.status != 200),
        calls=dict(calls),
        cpu=cpu_percent(before, after),
    )


async def database_counts(database: AsyncEngine, users: Sequence[str], delivered: set[str]) -> dict[str, int]:
    """Inbox rows (one per message, however often Meta posted it) and outbox rows with their receipts.

    `delivered` are the wamids whose "delivered" callback the webhook answered 200: a sent row with
    such an id and no receipt missed its callback (it came before the row knew its wamid).
    """
    async with database.connect() as conn:
        inbox_rows = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(inbox)
                .where(inbox.c.channel == "whatsapp", inbox.c.chat_id.in_(users))
            )
        ).scalar_one()
        replies = (
            await conn.execute(
                sa.select(outbox.c.sent_at, outbox.c.external_id, outbox.c.receipt).where(
                    outbox.c.channel == "whatsapp", outbox.c.chat_id.in_(users)
                )
            )
        ).all()
    return {
        "inbox": int(inbox_rows),
        "outbox": len(replies),
        "sent": sum(1 for sent, _, _ in replies if sent is not None),
        "delivered": sum(1 for _, _, receipt in replies if receipt == "delivered"),
        "missed": sum(1 for _, wamid, receipt in replies if wamid in delivered and receipt is None),
    }


# ------------------------------------------------------------------------------------ output


class Problems(logging.Handler):
    """Counts what Lotse logs from WARNING up (in-process, there is no server log file to read)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if not self.first:
            self.first = f"{record.levelname} {record.name}: {record.getMessage()}"


def latency_row(name: str, values: Sequence[float]) -> str:
    cells = [f"{percentile(values, q):.1f}" for q in (0.5, 0.95, 0.99, 1.0)]
    return f"| {name} | {len(values)} | {' | '.join(cells)} |"


def print_result(r: Result) -> None:
    print(
        f"measured: {r.messages} messages from {r.users} users in {r.wall:.1f} s: {r.rate:.1f} messages/s;"
        f" ack p50 {percentile(r.acks, 0.5):.0f} / p99 {percentile(r.acks, 0.99):.0f} ms,"
        f" end to end p50 {percentile(r.latencies, 0.5):.0f} / p99 {percentile(r.latencies, 0.99):.0f} ms;"
        f" lost {r.lost}, duplicated {r.duplicated}, unanswered {r.unanswered}, timeouts {r.timeouts},"
        f" silent {r.silent}, rejected {r.rejected}",
        flush=True,
    )
    cpu = r.cpu
    print(
        f"      CPU (% of one core): this process {cpu['process']:.0f} (event loop thread: service and load"
        f" generator {cpu['loop']:.0f}, fake Graph API thread {cpu['fake']:.0f}, other threads"
        f" {cpu['other threads']:.0f}), other processes {cpu['other processes']:.0f};"
        f" machine {cpu['machine']:.0f} of {100 * (psutil.cpu_count() or 1)}",
        flush=True,
    )
    if r.rejections:
        causes = ", ".join(f"{cause} x{n}" for cause, n in sorted(r.rejections.items()))
        print(f"      webhook POSTs posted again: {causes}", flush=True)


def report(r: Result, cold_start: float, statuses: bool, timeout: float) -> str:
    lines = [
        "| latency | count | median ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
        latency_row("acknowledgement: webhook POST to its 200", r.acks),
        latency_row("end to end: webhook POST to the first reply at the Graph API", r.latencies),
        latency_row("redelivery (same wamid posted again) to its 200", r.redelivery_acks),
        "",
        "| metric | value |",
        "|---|---|",
    ]
    sends = sum(n for kind, n in r.calls.items() if kind == "message 200")
    reads = sum(n for kind, n in r.calls.items() if kind == "read 200")
    graph_errors = sum(n for kind, n in r.calls.items() if not kind.endswith(" 200"))
    rows = [
        ("messages (users, closed loop)", f"{r.messages} ({r.users})"),
        ("throughput messages/s (first POST to last first reply)", f"{r.rate:.1f}"),
        ("lost replies (expected WhatsApp messages that never arrived)", str(r.lost)),
        (
            f"messages without any answer (user waited {timeout:g} s, then all until the end)",
            f"{r.unanswered} (timeouts {r.timeouts})",
        ),
        ("duplicated replies (messages beyond the expected count)", str(r.duplicated)),
        ("messages posted twice (Meta's redelivery, same wamid)", str(r.redelivered)),
        ("inbox rows / distinct messages", f"{r.inbox_rows} / {r.messages}"),
        ("messages without a reply by design (no latency)", str(r.silent)),
        ("webhook POSTs not answered 200 (posted again)", str(r.rejected)),
        (
            "Graph API sends / mark-as-read per message",
            f"{sends / r.messages:.2f} / {reads / r.messages:.2f}",
        ),
        ("Graph API calls answered with an error", str(graph_errors)),
        ("status callbacks", "on" if statuses else "off (graph.statuses = False)"),
    ]
    if statuses:
        rows += [
            (
                "status callbacks posted (one per status) / not answered 200",
                f"{r.status_posts} / {r.status_posts_failed}",
            ),
            ("outbox rows sent / with the delivered receipt", f"{r.outbox_sent} / {r.outbox_delivered}"),
            ("delivered callbacks answered 200 but not recorded on their row", str(r.receipts_missed)),
        ]
    else:
        rows.append(("outbox rows sent", f"{r.outbox_sent} of {r.outbox_rows}"))
    rows += [
        ("service start s (build, migrations, uvicorn; model loaded before)", f"{cold_start:.1f}"),
        (
            "peak RSS of this process MB (service, generator, fake)",
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}",
        ),
    ]
    lines += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines)


# -------------------------------------------------------------------------------------- main


async def warm_up(
    graph: RecordingGraphApi,
    clients: Sequence[httpx.AsyncClient],
    url: str,
    deliveries: dict[str, list[Delivery]],
    counts: Sequence[Sequence[int]],
) -> None:
    """Every language and a button through the service once: loads the model's code paths."""
    poster = Poster(clients, url)
    users = list(deliveries)
    for wa_id in users:
        graph.set_last_user_message(wa_id, graph.now())
    jobs = [converse(poster, graph, i, u, deliveries[u], counts[i], 60) for i, u in enumerate(users)]
    await asyncio.gather(*jobs)
    await complete(graph, {u: sum(c) for u, c in zip(users, counts, strict=True)}, timeout=30)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--quick", action="store_true", help="smoke test: 300 messages from 20 users")
    parser.add_argument("--redeliver", type=float, default=0.05, help="share of messages Meta posts twice")
    parser.add_argument(
        "--no-statuses",
        action="store_true",
        help="no sent/delivered callbacks from the fake (graph.statuses)",
    )
    parser.add_argument(
        "--timeout", type=float, default=WAIT_FOR_REPLY, help="seconds a user waits for a reply"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.quick:
        args.messages, args.users = 300, min(args.users, 20)
    if not 0 < args.users <= args.messages:
        parser.error("need 0 < --users <= --messages")
    quiet()
    lighten_generator()
    problems = Problems()
    lotse_log = logging.getLogger("bot")
    lotse_log.setLevel(logging.WARNING)
    lotse_log.addHandler(problems)
    lotse_log.propagate = False

    conversations = scripts(args.messages, args.users, args.seed)
    warmup = [warmup_script()]
    statuses = not args.no_statuses
    with tempfile.TemporaryDirectory(prefix="lotse-bench-") as tmpdir:
        tmp = Path(tmpdir)
        started = time.monotonic()
        with warnings.catch_warnings():  # Rasa's imports turn warnings back on (sanic, numpy, urllib3...)
            warnings.showwarning = _silent
            understanding = load_understanding(Settings())
        print(f"NLU model loaded in {time.monotonic() - started:.0f} s", flush=True)
        graph = RecordingGraphApi(app_secret=APP_SECRET)
        graph.start()
        graph.statuses = statuses
        try:
            started = time.monotonic()
            counts = await reference_counts([*warmup, *conversations], understanding, graph, tmp)
            warmup_counts, counts = counts[:1], counts[1:]
            replies = sum(map(sum, counts))
            print(
                f"reference replay: {args.messages} messages from {len(conversations)} users -> {replies}"
                f" WhatsApp messages ({replies / args.messages:.2f} per message)"
                f" in {time.monotonic() - started:.0f} s",
                flush=True,
            )
            warmup_deliveries = materialise(warmup, graph, WARMUP_USERS, 0.0, args.seed)
            deliveries = materialise(conversations, graph, USERS, args.redeliver, args.seed)
            print(
                f"backend {args.backend}; status callbacks {'on' if statuses else 'off'};"
                f" {psutil.cpu_count()} cores shared by the service, the load generator and the fake Graph API"
                f" (one process, code {revision()}); worker concurrency"
                f" {Settings().worker_concurrency}, WhatsApp send rate {Settings().whatsapp_rate:g}/s",
                flush=True,
            )
            async with fresh_database(args.backend, tmp, "serve") as database_url:
                settings = whatsapp_settings(database_url, graph, var_dir=tmp, translation_provider="none")
                started = time.monotonic()
                async with running_service(settings, understanding) as running:
                    cold = time.monotonic() - started
                    url = f"{running.base_url}/whatsapp/webhook"
                    graph.configure_webhook(url, graph.app_secret)
                    answer = await graph.averify("subscribe", WHATSAPP_VERIFY_TOKEN, "bench-challenge")
                    if answer.status_code != 200 or answer.text != "bench-challenge":
                        raise BenchError(f"webhook verification failed: {answer.status_code} {answer.text}")
                    async with http_clients(args.users) as clients:
                        await warm_up(graph, clients, url, warmup_deliveries, warmup_counts)
                        graph.reset()  # forget the warm-up's calls; drops its pending status callbacks
                        await asyncio.to_thread(graph.settle, 10.0)
                        result = await measure(
                            graph,
                            clients,
                            url,
                            running.service.lotse.database,
                            deliveries,
                            counts,
                            args.timeout,
                        )
                    print_result(result)
        finally:
            graph.stop()
    if problems.count:
        print(f"      Lotse logged {problems.count} problems; the first: {problems.first[:200]}", flush=True)
    print()
    print(
        f"{args.backend}, {args.messages} messages from {args.users} users, status callbacks"
        f" {'on' if statuses else 'off'}, {psutil.cpu_count()} cores (service, load generator and fake"
        " Graph API in one process):"
    )
    print(report(result, cold, statuses, args.timeout))


if __name__ == "__main__":
    asyncio.run(main())
