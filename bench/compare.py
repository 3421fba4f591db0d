"""Lotse against a plain Rasa 3.6 assistant on the same machine, in one interleaved run.

    .venv/bin/python bench/compare.py               # 3000 messages, 50 concurrent chats, both load levels
    .venv/bin/python bench/compare.py --quick       # 600 messages: a check that everything runs
    .venv/bin/python bench/compare.py --no-train    # reuse models/nlu.tar.gz and the peer's last model

The peer (`bench/peer_rasa/generate.py`) is generated from Lotse's own `nlu/` and `config.yml`
and served by `rasa run --enable-api` with the REST channel; Lotse is `lotse serve` on the demo
district with a fresh SQLite database, answering over its web chat API. Both get the same chats
(`bench/chat_load.py`: short conversations in the seven languages, 50 at a time, each waiting for
its answer before the next message):

- saturated: the chats write again as soon as they are answered; throughput is the figure;
- paced: the chats pause 1-3 s between messages (about 25 messages/s in all); latency is the figure.

The work is cut into rounds and each round is played against both servers, in alternating order,
so that whatever else the machine does hits both. Reported: throughput, p50/p95/p99 of request to
complete answer, cold start (spawn to first answer, median of --cold-starts), peak RSS under load,
NLU training time, and Lotse/Rasa for each. Writes compare.md, compare.json and compare.png to
--out (default docs/bench). Load generator and servers share the machine's cores. Run by hand;
never a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bot.config import PROJECT_ROOT, Settings

if str(PROJECT_ROOT) not in sys.path:  # bench.* when run as a script
    sys.path.insert(0, str(PROJECT_ROOT))

from bench.chat_load import (
    Conversation,
    LotseWebChat,
    RasaRest,
    RunResult,
    conversations,
    latency_summary,
    play,
)
from bench.compare_servers import VENV_BIN, Server, clean_env, lotse_server, peer_server
from bench.peer_rasa.generate import DEFAULT_OUT as PEER_PROJECT
from bench.peer_rasa.generate import generate

SYSTEMS = ("Lotse", "Rasa")


@dataclass
class Measured:
    """Everything measured of one server."""

    cold_starts: list[float] = field(default_factory=list)
    idle_rss_mb: list[float] = field(default_factory=list)
    training_s: float | None = None
    saturated: RunResult = field(default_factory=RunResult)
    paced: RunResult = field(default_factory=RunResult)
    round_throughput: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0


def train_both(project: Path, measured: dict[str, Measured]) -> Path:
    """Train Lotse's model (`lotse train --force`) and the peer's (`rasa train`), timing each."""
    started = time.perf_counter()
    done = subprocess.run([str(VENV_BIN / "lotse"), "train", "--force"], cwd=PROJECT_ROOT, env=clean_env(),
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"lotse train failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    measured["Lotse"].training_s = time.perf_counter() - started
    started = time.perf_counter()
    command = [str(VENV_BIN / "rasa"), "train", "--fixed-model-name", "peer", "--out", "models"]
    done = subprocess.run(command, cwd=project, env=clean_env(), capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"rasa train failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    measured["Rasa"].training_s = time.perf_counter() - started
    return project / "models" / "peer.tar.gz"


def make_servers(tmp: Path, peer_model: Path, run: int) -> dict[str, Server]:
    return {
        "Lotse": lotse_server(tmp / f"lotse-{run}", Settings().model_path, LotseWebChat()),
        "Rasa": peer_server(PEER_PROJECT, peer_model, RasaRest(), tmp / f"rasa-{run}.log"),
    }


def order(index: int) -> tuple[str, ...]:
    """Alternate which server goes first, so that neither always follows the other's load."""
    return SYSTEMS if index % 2 == 0 else SYSTEMS[::-1]


async def cold_starts(tmp: Path, peer_model: Path, runs: int, measured: dict[str, Measured]) -> None:
    for run in range(runs):
        servers = make_servers(tmp, peer_model, run)
        for name in order(run):
            server = servers[name]
            try:
                measured[name].cold_starts.append(await server.start())
                await asyncio.sleep(1.0)  # what stays resident once the first answer is out
                measured[name].idle_rss_mb.append(server.rss_mb())
            finally:
                server.stop()
        print(
            f"cold start {run + 1}/{runs}: "
            + ", ".join(f"{n} {measured[n].cold_starts[-1]:.1f} s" for n in SYSTEMS),
            flush=True,
        )


def rounds_of(chats: Sequence[Conversation], rounds: int) -> list[list[Conversation]]:
    return [list(chats[i::rounds]) for i in range(rounds)]


async def load(
    servers: dict[str, Server],
    chats: Sequence[Conversation],
    args: argparse.Namespace,
    measured: dict[str, Measured],
) -> None:
    for mode, think in (("saturated", 0.0), ("paced", args.think)):
        for index, part in enumerate(rounds_of(chats, args.rounds)):
            line = []
            for name in order(index):
                server = servers[name]
                result = await play(server.client, server.base_url, part, args.concurrency, think, seed=index)
                getattr(measured[name], mode).add(result)
                if mode == "saturated":
                    measured[name].round_throughput.append(result.throughput)
                line.append(f"{name} {result.throughput:6.1f} msg/s p99 {latency_summary(result)['p99_ms']:6.0f} ms")
            print(f"{mode:<9} round {index + 1}/{args.rounds}: " + " | ".join(line), flush=True)


def ratio(lotse: float | None, rasa: float | None) -> str:
    if not lotse or not rasa:
        return "–"
    return f"{lotse / rasa:.2f}"


def table(measured: dict[str, Measured]) -> tuple[str, dict[str, Any]]:
    """The markdown table (with Lotse/Rasa ratios and the targets) and the same figures as a dict."""
    rows: list[tuple[str, float | None, float | None, str, str]] = []
    fmt = "{:.1f}"
    lotse, rasa = measured["Lotse"], measured["Rasa"]
    rows.append(("throughput, saturated (msg/s)", lotse.saturated.throughput, rasa.saturated.throughput,
                 "≥ 3", fmt))
    for mode in ("saturated", "paced"):
        lat_l, lat_r = latency_summary(getattr(lotse, mode)), latency_summary(getattr(rasa, mode))
        for key, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
            target = ""
            if key == "p99_ms":
                target = "≤ 0.33" + (", Lotse < 50 ms" if mode == "paced" else "")
            rows.append((f"latency {label}, {mode} (ms)", lat_l[key], lat_r[key], target, fmt))
    rows.append(("cold start to first answer, median (s)", _median(lotse.cold_starts), _median(rasa.cold_starts),
                 "Lotse < 10 s", fmt))
    rows.append(("RSS after start, median (MB)", _median(lotse.idle_rss_mb), _median(rasa.idle_rss_mb), "", "{:.0f}"))
    rows.append(("peak RSS under load (MB)", lotse.peak_rss_mb, rasa.peak_rss_mb, "Lotse < 800 MB", "{:.0f}"))
    rows.append(("NLU training (s)", lotse.training_s, rasa.training_s, "", fmt))
    lines = ["| measure | Lotse | Rasa | Lotse/Rasa | target |", "|---|---:|---:|---:|---|"]
    figures: dict[str, Any] = {}
    for label, value_l, value_r, target, number in rows:
        shown_l = number.format(value_l) if value_l is not None else "–"
        shown_r = number.format(value_r) if value_r is not None else "–"
        lines.append(f"| {label} | {shown_l} | {shown_r} | {ratio(value_l, value_r)} | {target} |")
        figures[label] = {"Lotse": value_l, "Rasa": value_r}
    for name in SYSTEMS:
        runs = (measured[name].saturated, measured[name].paced)
        figures[f"{name} unanswered"] = sum(r.unanswered for r in runs)
        figures[f"{name} errors"] = sum(r.errors for r in runs)
    figures["round throughput"] = {n: measured[n].round_throughput for n in SYSTEMS}
    return "\n".join(lines), figures


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}, {platform.system()}"


def plot(path: Path, measured: dict[str, Measured]) -> None:
    """Throughput per round (the interleaving shows as two lines) and latency percentiles per load."""
    import matplotlib  # type: ignore[import-untyped]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-untyped]

    colours = {"Lotse": "tab:blue", "Rasa": "tab:orange"}
    fig, (rounds, latency) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in SYSTEMS:
        values = measured[name].round_throughput
        rounds.plot(range(1, len(values) + 1), values, marker="o", label=name, color=colours[name])
    rounds.set_xlabel("round (saturated; servers alternate within each round)")
    rounds.set_ylabel("messages per second")
    rounds.set_ylim(bottom=0)
    rounds.grid(alpha=0.3)
    rounds.legend()
    labels = [f"{m}\n{p}" for m in ("saturated", "paced") for p in ("p50", "p95", "p99")]
    width = 0.38
    for offset, name in ((-width / 2, "Lotse"), (width / 2, "Rasa")):
        values = [
            latency_summary(getattr(measured[name], mode))[key]
            for mode in ("saturated", "paced")
            for key in ("p50_ms", "p95_ms", "p99_ms")
        ]
        latency.bar([i + offset for i in range(len(labels))], values, width, label=name, color=colours[name])
    latency.set_xticks(range(len(labels)), labels)
    latency.set_yscale("log")
    latency.set_ylabel("request to answer (ms, log scale)")
    latency.grid(alpha=0.3, axis="y")
    latency.legend()
    fig.suptitle("Lotse web chat vs. plain Rasa 3.6 REST, same machine, interleaved", fontsize="medium")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000, help="messages per load level and server")
    parser.add_argument("--concurrency", type=int, default=50, help="chats at a time")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--think", type=float, default=2.0, help="mean pause between a chat's messages, paced")
    parser.add_argument("--cold-starts", type=int, default=3)
    parser.add_argument("--no-train", action="store_true", help="reuse the models if they exist")
    parser.add_argument("--quick", action="store_true", help="600 messages, 2 rounds, 1 cold start")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "bench")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.rounds, args.cold_starts = 600, 2, 1
    measured = {name: Measured() for name in SYSTEMS}
    peer_model = PEER_PROJECT / "models" / "peer.tar.gz"
    if not (args.no_train and peer_model.exists() and Settings().model_path.exists()):
        generate(PEER_PROJECT)
        print("training both NLU models …", flush=True)
        peer_model = train_both(PEER_PROJECT, measured)
    chats = conversations(args.messages)
    with tempfile.TemporaryDirectory(prefix="lotse-compare-") as tmp_name:
        tmp = Path(tmp_name)
        await cold_starts(tmp, peer_model, args.cold_starts, measured)
        servers = make_servers(tmp, peer_model, args.cold_starts)
        try:
            for name in SYSTEMS:
                await servers[name].start()
                servers[name].peak_rss_mb = 0.0
                warmup = conversations(60, seed=99)
                await play(servers[name].client, servers[name].base_url, warmup, args.concurrency)
            await load(servers, chats, args, measured)
            for name in SYSTEMS:
                measured[name].peak_rss_mb = servers[name].peak_rss_mb
        finally:
            for server in servers.values():
                server.stop()
    markdown, figures = table(measured)
    when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    header = (
        f"{args.messages} messages per load level and server, {args.concurrency} concurrent chats, "
        f"{args.rounds} interleaved rounds; {when}; {machine()}.\n"
        f"Command: `.venv/bin/python bench/compare.py"
        + (" --quick" if args.quick else "")
        + "`\n"
    )
    print()
    print(header)
    print(markdown)
    for name in SYSTEMS:
        print(f"{name}: {figures[f'{name} unanswered']} unanswered, {figures[f'{name} errors']} errors")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compare.md").write_text(header + "\n" + markdown + "\n", encoding="utf-8")
    (args.out / "compare.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    plot(args.out / "compare.png", measured)
    print(f"\nwritten: {args.out / 'compare.md'}, compare.json, compare.png")


if __name__ == "__main__":
    asyncio.run(main())
