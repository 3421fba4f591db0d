"""Soak test: a real `lotse serve` under steady mixed traffic for half an hour, with nothing lost.

    .venv/bin/python bench/soak.py                          # 30 minutes, 500 users, 10 messages/s, SQLite
    .venv/bin/python bench/soak.py --minutes 2              # a short check of the whole path
    .venv/bin/python bench/soak.py --backend postgresql     # a fresh database on LOTSE_TEST_PG
    .venv/bin/python bench/soak.py --database-url postgresql+asyncpg://…   # a database of your own
    .venv/bin/python bench/soak.py --out /tmp/soak          # where soak.csv, soak.json, soak.png go

One `lotse serve` process answers Telegram (webhook) and WhatsApp (Cloud API webhook) with the
platforms' real rate limits, against the fake Bot API and Graph API (tests/fakes, real HTTP servers
in threads of this process) and with machine translation from the fake LibreTranslate. A caseworker
account is made with `lotse staff add`, and a simulated caseworker works the console over HTTP
(bench/soak_caseworker.py). 500 simulated users (bench/soak_users.py; by default 60 % Telegram,
40 % WhatsApp, the seven languages in turn) write at a human pace: questions, button presses,
stickers and photos, /menu; a tenth of them ask for a person once, consent, write while they wait,
get the caseworker's translated replies, and press the feedback button when the chat is handed back.

Every ~10 s a sample (bench/soak_report.py): memory of the server, its CPU, messages in and out,
webhook-to-first-answer latency p50/p95 of that interval, what is outstanding. At the end the run
waits for every answer and accounts for everything:

- lost: a message posted to a webhook without an inbox row, an inbox row not done, an outbox row
  not sent, a platform message the outbox says went out but the user never got, an owed answer
  that never came (text, command or button outside a handover), a caseworker reply that never
  reached the person, a handover never handed back;
- duplicated: more platform messages in a chat than its outbox rows make, or a caseworker reply
  that arrived twice.

Writes soak.csv (the samples), soak.json (the summary) and soak.png (memory, latency, traffic over
time) to --out (default docs/bench) and exits 1 when anything was lost or duplicated. The load
generator and the fakes share this process and the machine's cores with the server, so the rate
must be one the machine sustains with room to spare; the summary prints the rate achieved.
Run by hand; never a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels.telegram.client import MESSAGE_LIMIT
from bot.channels.text import split_text
from bot.config import PROJECT_ROOT
from bot.storage.database import create_engine
from bot.storage.deliveries import outbox_message
from bot.storage.tables import conversations, handovers, inbox, outbox, users

if str(PROJECT_ROOT) not in sys.path:  # tests.* and bench.* when run as a script
    sys.path.insert(0, str(PROJECT_ROOT))

from bench.mailbox import Mailbox
from bench.soak_caseworker import Caseworker, Desk
from bench.soak_fakes import MailingBotApi, MailingGraphApi
from bench.soak_report import Sample, drift, latencies_ms, plot, server_memory, write_csv, write_json
from bench.soak_users import (
    ANSWER_WAIT,
    TELEGRAM_SECRET,
    Conversations,
    Posted,
    TelegramUsers,
    Traffic,
    WhatsAppUsers,
    population,
)
from bench.telegram_webhook import (
    free_port,
    fresh_database,
    http_clients,
    lighten_generator,
    percentile,
    quiet,
    revision,
)
from bench.whatsapp_webhook import whatsapp_messages
from tests.fakes.libretranslate import FakeLibreTranslate
from tests.harness import WHATSAPP_VERIFY_TOKEN, ServeProcess

TOKEN = "987654:SOAK-TOKEN"
APP_SECRET = "soak-app-secret_0123456789"
CASEWORKER = "soak-weber"
TEAMS = (
    "im-stadt-reutlingen",
    "im-stadt-metzingen",
    "im-kreis-echaz-steinlach",
    "im-kreis-ermstal",
    "im-kreis-alb",
)
WARMUP_MINUTES = 1.0  # left out of the drift figures: the model's first calls, the ramp of users
DRAIN_TIMEOUT = 300.0  # seconds to wait for the inbox and outbox to empty after the users stopped
SETTLE = 3.0  # seconds after everything is delivered, for duplicates to show


class SoakError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------- the server


def server_env(
    database_url: str,
    tmp: Path,
    port: int,
    bot_api: MailingBotApi,
    graph: MailingGraphApi,
    libre: FakeLibreTranslate,
) -> dict[str, str]:
    """`lotse serve` on both channels with the platforms' real limits, translating via the fake."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOTSE_VAR_DIR": str(tmp),
        "LOTSE_RETRAIN": "false",
        "TELEGRAM_TOKEN": bot_api.token,
        "TELEGRAM_API_BASE_URL": bot_api.base_url,
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
        "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
        "WHATSAPP_TOKEN": graph.access_token,
        "WHATSAPP_PHONE_NUMBER_ID": graph.phone_number_id,
        "WHATSAPP_APP_SECRET": graph.app_secret,
        "WHATSAPP_VERIFY_TOKEN": WHATSAPP_VERIFY_TOKEN,
        "WHATSAPP_API_BASE_URL": graph.base_url,
        "WHATSAPP_API_VERSION": graph.version,
        "LOTSE_TRANSLATION": "libre",
        "LIBRETRANSLATE_URL": libre.url,
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    for name in ("TELEGRAM_RATE", "TELEGRAM_CHAT_INTERVAL", "WHATSAPP_RATE", "LIBRETRANSLATE_API_KEY"):
        env.pop(name, None)
    return env


def add_caseworker(env: dict[str, str]) -> str:
    """`lotse staff add` as an administrator would; returns the password it prints once."""
    command = [
        sys.executable,
        "-m",
        "bot.cli",
        "staff",
        "add",
        CASEWORKER,
        "--role",
        "caseworker",
        "--name",
        "Frau Weber",
    ]
    for team in TEAMS:
        command += ["--team", team]
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    found = re.search(r"password: (\S+)", done.stdout)
    if done.returncode != 0 or found is None:
        raise SoakError(f"lotse staff add failed ({done.returncode}): {done.stdout}{done.stderr[-2000:]}")
    return found.group(1)


def problems_logged(log: Path) -> tuple[int, str]:
    """Lines of the server log from WARNING up, and the first of them."""
    lines = [
        line
        for line in log.read_text(errors="replace").splitlines()
        if re.match(r"(ERROR|WARNING|CRITICAL|Traceback)", line)
    ]
    return len(lines), (lines[0][:300] if lines else "")


@contextlib.asynccontextmanager
async def database(args: argparse.Namespace, tmp: Path) -> AsyncIterator[str]:
    if args.database_url:
        yield args.database_url
        return
    async with fresh_database(args.backend, tmp, "soak") as url:
        yield url


# ---------------------------------------------------------------------------------- sampling


async def open_rows(db: AsyncEngine) -> tuple[int, int, int]:
    """Inbox rows not done, outbox rows not sent, handovers not closed."""
    async with db.connect() as conn:
        inbox_open = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(inbox)
                .where(inbox.c.status.in_(("pending", "processing")))
            )
        ).scalar_one()
        outbox_open = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(outbox)
                .where(outbox.c.status.in_(("pending", "sending")))
            )
        ).scalar_one()
        cases_open = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(handovers).where(handovers.c.status != "closed")
            )
        ).scalar_one()
    return int(inbox_open), int(outbox_open), int(cases_open)


class Sampler:
    """Takes a `Sample` every `interval` seconds until stopped."""

    def __init__(
        self, traffic: Traffic, mailbox: Mailbox, server: psutil.Process, db: AsyncEngine, interval: float
    ) -> None:
        self.traffic, self.mailbox, self.server, self.db, self.interval = (
            traffic,
            mailbox,
            server,
            db,
            interval,
        )
        self.samples: list[Sample] = []
        self.started = time.monotonic()
        self._last = self.started
        self._posted = 0
        self._received = 0
        _, self._cpu = server_memory(server)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval - (time.monotonic() - self.started) % self.interval)
            await self.take()

    async def take(self) -> None:
        now = time.monotonic()
        wall = max(now - self._last, 1e-6)
        rss, cpu = server_memory(self.server)
        records = self.traffic.records
        posted, received = len(records), self.mailbox.total()
        answered: list[tuple[float, float]] = []
        waiting = 0
        for record in reversed(records):  # only the recent past can change between two samples
            if record.at < self._last - ANSWER_WAIT - self.interval:
                break
            if not record.owed or record.handover:
                continue
            if record.answered_at is None:
                waiting += record.accepted and now - record.at < ANSWER_WAIT
            elif self._last < record.answered_at <= now:
                answered.append((record.at, record.answered_at))
        try:
            inbox_open, outbox_open, cases_open = await open_rows(self.db)
        except sa.exc.SQLAlchemyError:
            inbox_open = outbox_open = cases_open = -1
        ms = latencies_ms(answered)
        sample = Sample(
            minute=(now - self.started) / 60,
            rss_mb=rss,
            cpu_percent=100 * (cpu - self._cpu) / wall,
            sent_per_s=(posted - self._posted) / wall,
            received_per_s=(received - self._received) / wall,
            answers=len(ms),
            p50_ms=percentile(ms, 0.5) if ms else 0.0,
            p95_ms=percentile(ms, 0.95) if ms else 0.0,
            max_ms=ms[-1] if ms else 0.0,
            waiting_users=waiting,
            inbox_open=inbox_open,
            outbox_open=outbox_open,
            handovers_open=cases_open,
        )
        self.samples.append(sample)
        self._last, self._posted, self._received, self._cpu = now, posted, received, cpu
        print(
            f"  {sample.minute:5.1f} min  RSS {sample.rss_mb:6.0f} MB  CPU {sample.cpu_percent:4.0f} %"
            f"  in {sample.sent_per_s:5.1f}/s  out {sample.received_per_s:5.1f}/s"
            f"  p50 {sample.p50_ms:6.0f}  p95 {sample.p95_ms:6.0f} ms (n={sample.answers})"
            f"  waiting {waiting}  inbox {inbox_open}  outbox {outbox_open}  handovers {cases_open}",
            flush=True,
        )


# ---------------------------------------------------------------------------------- accounting


@dataclass
class Ledger:
    """Everything that went missing or came twice; the run passes only when it is all zero."""

    posts_rejected: int = 0  # webhook POSTs never answered 200 after redeliveries
    inbox_missing: int = 0  # accepted POSTs without an inbox row
    inbox_not_done: int = 0
    outbox_not_sent: int = 0  # pending, sending or failed at the end
    messages_missing: int = 0  # platform messages the outbox sent that never reached the user
    messages_extra: int = 0  # platform messages beyond what the outbox sent
    unanswered: int = 0  # owed answers that never came
    caseworker_replies_missing: int = 0
    caseworker_replies_twice: int = 0
    caseworker_replies_elsewhere: int = 0  # reached someone other than the person of the case
    never_handed_back: int = 0
    no_consent_question: int = 0

    @property
    def lost(self) -> int:
        return (
            self.posts_rejected
            + self.inbox_missing
            + self.inbox_not_done
            + self.outbox_not_sent
            + self.messages_missing
            + self.unanswered
            + self.caseworker_replies_missing
            + self.caseworker_replies_elsewhere
            + self.never_handed_back
            + self.no_consent_question
        )

    @property
    def duplicated(self) -> int:
        return self.messages_extra + self.caseworker_replies_twice


def platform_messages(channel: str, body: dict[str, Any]) -> int:
    """How many platform messages one outbox row makes, as the sender splits and the channel lays out."""
    message = outbox_message(body)
    if channel == "whatsapp":
        return whatsapp_messages(message)
    return len(split_text(message.text, MESSAGE_LIMIT))


async def account(
    db: AsyncEngine, traffic: Traffic, mailbox: Mailbox, desk: Desk
) -> tuple[Ledger, dict[str, int]]:
    ledger = Ledger()
    ledger.posts_rejected = sum(1 for r in traffic.records if not r.accepted)
    async with db.connect() as conn:
        inbox_rows = (await conn.execute(sa.select(inbox.c.channel, inbox.c.status))).all()
        outbox_rows = (
            await conn.execute(sa.select(outbox.c.channel, outbox.c.chat_id, outbox.c.body, outbox.c.status))
        ).all()
        chats_of_cases = dict(
            (
                await conn.execute(
                    sa.select(handovers.c.id, users.c.channel + ":" + users.c.external_id)
                    .join(conversations, conversations.c.id == handovers.c.conversation_id)
                    .join(users, users.c.id == conversations.c.user_id)
                )
            ).all()
        )
    # The inbox keeps only a salted hash of each message's identity (bot/storage/dedup.py), so rows
    # are counted per channel: every accepted message is distinct, and the inbox deduplicates.
    stored: Counter[str] = Counter()
    for channel, status in inbox_rows:
        stored[channel] += 1
        ledger.inbox_not_done += status != "done"
    ledger.inbox_missing = sum(
        max(0, len(ids) - stored[channel]) for channel, ids in traffic.accepted_ids.items()
    )
    expected: Counter[str] = Counter()
    for channel, chat_id, body, status in outbox_rows:
        if status == "sent":
            expected[f"{'tg' if channel == 'telegram' else 'wa'}:{chat_id}"] += platform_messages(
                channel, body
            )
        else:
            ledger.outbox_not_sent += 1
    received = mailbox.chats()
    for chat in set(expected) | set(received):
        difference = received.get(chat, 0) - expected.get(chat, 0)
        if difference > 0:
            ledger.messages_extra += difference
        else:
            ledger.messages_missing -= difference
    ledger.unanswered = sum(1 for r in traffic.records if r.owed and not r.handover and r.answered_at is None)
    texts = {chat: [a.text for a in mailbox.arrivals(chat)] for chat in received}
    for case_id, markers in desk.replies.items():
        channel, _, chat_id = str(chats_of_cases.get(case_id, "")).partition(":")
        person = f"{'tg' if channel == 'telegram' else 'wa'}:{chat_id}"
        for marker in markers:
            found = {chat: sum(marker in text for text in got) for chat, got in texts.items()}
            total = sum(found.values())
            ledger.caseworker_replies_missing += total == 0
            ledger.caseworker_replies_twice += max(0, total - 1)
            ledger.caseworker_replies_elsewhere += total - found.get(person, 0)
    ledger.never_handed_back = traffic.handovers["never handed back"]
    ledger.no_consent_question = traffic.handovers["no consent question"]
    statuses = Counter(f"inbox {s}" for _, s in inbox_rows) + Counter(f"outbox {s}" for *_, s in outbox_rows)
    return ledger, dict(statuses)


async def drained(db: AsyncEngine, timeout: float) -> bool:
    """Wait until no inbox or outbox row is open (the last answers went out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inbox_open, outbox_open, _ = await open_rows(db)
        if inbox_open == outbox_open == 0:
            return True
        await asyncio.sleep(1.0)
    return False


# ---------------------------------------------------------------------------------- the run


@dataclass
class Setup:
    args: argparse.Namespace
    base_url: str
    database_url: str
    password: str
    server: ServeProcess
    mailbox: Mailbox
    graph: MailingGraphApi


async def soak(setup: Setup) -> tuple[dict[str, Any], list[Sample]]:
    args, mailbox = setup.args, setup.mailbox
    assert setup.server.process is not None
    db = create_engine(setup.database_url)
    traffic = Traffic(end=time.monotonic() + args.minutes * 60, mean_think=args.users / args.rate)
    telegram = TelegramUsers(f"{setup.base_url}/telegram/webhook", first_update=10_000_000)
    whatsapp = WhatsAppUsers(f"{setup.base_url}/whatsapp/webhook", setup.graph)
    people = population(telegram, whatsapp, args.users, args.whatsapp, args.person, args.seed)
    caseworker = Caseworker(setup.base_url, CASEWORKER, setup.password, args.seed)
    sampler = Sampler(traffic, mailbox, psutil.Process(setup.server.process.pid), db, args.interval)
    try:
        await caseworker.login()
        stop = asyncio.Event()
        desk_task = asyncio.create_task(caseworker.work(stop))
        sampling = asyncio.create_task(sampler.run())
        async with http_clients(100) as clients:
            conversations_ = Conversations(traffic, mailbox, clients, args.seed)
            await asyncio.gather(*(conversations_.live(user) for user in people))
        users_done = time.monotonic()
        stop.set()
        await asyncio.wait_for(desk_task, timeout=DRAIN_TIMEOUT)
        empty = await drained(db, DRAIN_TIMEOUT)
        await asyncio.sleep(SETTLE)
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
        await sampler.take()
        ledger, rows = await account(db, traffic, mailbox, caseworker.desk)
    finally:
        await caseworker.close()
        await db.dispose()
    summary = summarise(
        args, traffic, caseworker.desk, sampler.samples, ledger, rows, users_done - traffic.end, empty
    )
    return summary, sampler.samples


def summarise(
    args: argparse.Namespace,
    traffic: Traffic,
    desk: Desk,
    samples: Sequence[Sample],
    ledger: Ledger,
    rows: dict[str, int],
    finishing: float,
    drained: bool,
) -> dict[str, Any]:
    records: Sequence[Posted] = traffic.records
    timed = latencies_ms([(r.at, r.answered_at) for r in records if r.answered_at is not None])
    steady = [s for s in samples if s.minute >= WARMUP_MINUTES]
    sending = [s.sent_per_s for s in steady if s.minute <= args.minutes] or [0.0]
    return {
        "code": revision(),
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "backend": "custom" if args.database_url else args.backend,
        "minutes": args.minutes,
        "users": args.users,
        "users_on_whatsapp": round(args.users * args.whatsapp),
        "offered_rate_per_s": args.rate,
        "achieved_rate_per_s": len(records) / (args.minutes * 60),
        "steady_rate_per_s": sum(sending) / len(sending),
        "cores": psutil.cpu_count(),
        "messages_posted": len(records),
        "by_kind": dict(Counter(f"{r.channel} {r.kind}" for r in records)),
        "answers_timed": len(timed),
        "latency_ms_by_channel": {
            channel: {
                q: percentile(ms, v) for q, v in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
            }
            for channel in ("telegram", "whatsapp")
            for ms in [
                latencies_ms(
                    [(r.at, r.answered_at) for r in records if r.channel == channel and r.answered_at]
                )
            ]
        },
        "latency_ms": {
            q: percentile(timed, v) for q, v in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
        },
        "handovers": dict(traffic.handovers),
        "caseworker": dict(desk.done),
        "webhook_retries": dict(traffic.rejections),
        "rows": rows,
        "drained": drained,
        "seconds_after_the_end_until_users_done": finishing,
        "drift": drift([s for s in samples if s.minute <= args.minutes], WARMUP_MINUTES),
        "peak_rss_mb": max((s.rss_mb for s in samples), default=0.0),
        "ledger": asdict(ledger),
        "lost": ledger.lost,
        "duplicated": ledger.duplicated,
    }


def print_summary(summary: dict[str, Any]) -> None:
    latency = summary["latency_ms"]
    trend = summary["drift"]
    print()
    print(
        f"{summary['minutes']:g} min, {summary['users']} users ({summary['users_on_whatsapp']} on WhatsApp),"
        f" {summary['backend']}, code {summary['code']}, {summary['cores']} cores shared with the load generator"
    )
    print(
        f"messages posted: {summary['messages_posted']} (offered {summary['offered_rate_per_s']:g}/s,"
        f" achieved {summary['achieved_rate_per_s']:.1f}/s, after the warm-up {summary['steady_rate_per_s']:.1f}/s)"
    )
    print(
        f"webhook -> first answer: p50 {latency['p50']:.0f} ms, p95 {latency['p95']:.0f} ms,"
        f" p99 {latency['p99']:.0f} ms, max {latency['max']:.0f} ms ({summary['answers_timed']} answers)"
    )
    for channel, by in summary["latency_ms_by_channel"].items():
        print(f"  {channel}: p50 {by['p50']:.0f} ms, p95 {by['p95']:.0f} ms, p99 {by['p99']:.0f} ms")
    if trend:
        print(
            f"memory: {trend['rss_first_third_mb']:.0f} MB (first third) -> {trend['rss_last_third_mb']:.0f} MB"
            f" (last third), slope {trend['rss_slope_mb_per_hour']:+.0f} MB/h; peak {summary['peak_rss_mb']:.0f} MB"
        )
        print(
            f"latency p95 per interval: {trend['p95_first_third_ms']:.0f} ms -> {trend['p95_last_third_ms']:.0f} ms,"
            f" slope {trend['p95_slope_ms_per_hour']:+.0f} ms/h (p50 {trend['p50_first_third_ms']:.0f} ->"
            f" {trend['p50_last_third_ms']:.0f} ms)"
        )
    print(f"handovers: {summary['handovers']}; caseworker: {summary['caseworker']}")
    print(f"rows at the end: {summary['rows']}; drained: {summary['drained']}")
    if summary["webhook_retries"]:
        print(f"webhook POSTs posted again: {summary['webhook_retries']}")
    ledger = {k: v for k, v in summary["ledger"].items() if v}
    print(f"lost {summary['lost']}, duplicated {summary['duplicated']}" + (f": {ledger}" if ledger else ""))


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument(
        "--rate", type=float, default=10.0, help="messages per second offered by all users together"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=PROJECT_ROOT / "docs" / "bench",
        help="folder for soak.csv, soak.json and soak.png",
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--database-url", help="use this database instead of a fresh one (it must be empty)")
    parser.add_argument("--whatsapp", type=float, default=0.4, help="share of users on WhatsApp")
    parser.add_argument("--person", type=float, default=0.1, help="share of users who ask for a person")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.users < 1 or args.rate <= 0 or args.minutes <= 0:
        parser.error("need --users >= 1, --rate > 0 and --minutes > 0")
    quiet()
    lighten_generator()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    print(
        f"soak: {args.minutes:g} min, {args.users} users, offered {args.rate:g} messages/s"
        f" (mean think time {args.users / args.rate:.0f} s per user), samples every {args.interval:g} s",
        flush=True,
    )
    mailbox = Mailbox()
    with tempfile.TemporaryDirectory(prefix="lotse-soak-") as tmpdir:
        tmp = Path(tmpdir)
        bot_api = MailingBotApi(mailbox, TOKEN).start()
        graph = MailingGraphApi(mailbox, APP_SECRET).start()
        libre = FakeLibreTranslate().start()
        server: ServeProcess | None = None
        try:
            async with database(args, tmp) as database_url:
                port = free_port()
                env = server_env(database_url, tmp, port, bot_api, graph, libre)
                server = ServeProcess(env, port, tmp / "serve.log", startup=600)
                started = time.monotonic()
                await asyncio.to_thread(server.start)
                print(
                    f"lotse serve healthy after {time.monotonic() - started:.0f} s on port {port}", flush=True
                )
                graph.configure_webhook(f"{server.base_url}/whatsapp/webhook", APP_SECRET)
                password = await asyncio.to_thread(add_caseworker, env)
                setup = Setup(args, server.base_url, database_url, password, server, mailbox, graph)
                try:
                    summary, samples = await soak(setup)
                except BaseException:
                    print(server.log_tail(), file=sys.stderr)
                    raise
                finally:
                    await asyncio.to_thread(server.stop)
                count, first = problems_logged(server.log_path)
                summary["server_log_problems"] = count
                if count:
                    print(f"lotse serve logged {count} warnings or errors; the first: {first}", flush=True)
        finally:
            libre.stop()
            graph.stop()
            bot_api.stop()
    out: Path = args.out
    write_json(out / "soak.json", summary)
    write_csv(out / "soak.csv", samples)
    latency = summary["latency_ms"]
    title = (
        f"Lotse soak: {summary['minutes']:g} min, {summary['users']} users (Telegram + WhatsApp),"
        f" {summary['achieved_rate_per_s']:.1f} messages/s, {summary['backend']};"
        f" p50 {latency['p50']:.0f} ms, p95 {latency['p95']:.0f} ms;"
        f" lost {summary['lost']}, duplicated {summary['duplicated']}"
    )
    plot(out / "soak.png", samples, title)
    print_summary(summary)
    print(f"written: {out / 'soak.csv'}, {out / 'soak.json'}, {out / 'soak.png'}")
    return 0 if summary["lost"] == summary["duplicated"] == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
