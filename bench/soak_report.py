"""Samples of a soak run over time, and how they are written: CSV, JSON summary and the plot.

A soak test is about drift, not about one number: memory that grows by a few megabytes an hour, or
a latency that creeps up as tables fill, shows only as a slope over the whole run. So every interval
(about 10 s) gets one row: the server's memory (RSS of `lotse serve` and any children), its CPU, the
messages that went in and out, the webhook-to-answer latency of the answers that arrived in that
interval, and what was still outstanding (users waiting for an answer, inbox and outbox rows not
done). The summary fits a line through memory and latency after the warm-up, and the plot shows
them over the run.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil


@dataclass(frozen=True)
class Sample:
    minute: float  # since the traffic started
    rss_mb: float
    cpu_percent: float  # of one core, server and children
    sent_per_s: float  # messages users posted
    received_per_s: float  # messages users received (bot and caseworker)
    answers: int  # owed answers that arrived in the interval
    p50_ms: float
    p95_ms: float
    max_ms: float
    waiting_users: int  # users waiting for an owed answer at the sample
    inbox_open: int  # inbox rows pending or processing
    outbox_open: int  # outbox rows pending or sending
    handovers_open: int  # waiting or active


def server_memory(process: psutil.Process) -> tuple[float, float]:
    """RSS in MB and CPU seconds of the server and all its children (Rasa may start some)."""
    rss, cpu = 0.0, 0.0
    for proc in [process, *process.children(recursive=True)]:
        try:
            rss += proc.memory_info().rss
            times = proc.cpu_times()
            cpu += times.user + times.system
        except psutil.Error:
            continue
    return rss / 2**20, cpu


def latencies_ms(pairs: Sequence[tuple[float, float]]) -> list[float]:
    """Sorted milliseconds from (posted, answered) pairs."""
    return sorted((answered - posted) * 1000 for posted, answered in pairs)


def trend(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over xs (units of y per unit of x); 0 with fewer than 3 points."""
    if len(xs) < 3:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def drift(samples: Sequence[Sample], warmup_minutes: float) -> dict[str, float]:
    """Memory and latency at the start and end of the run after the warm-up, and their slopes per hour."""
    steady = [s for s in samples if s.minute >= warmup_minutes and s.answers > 0] or list(samples)
    if not steady:
        return {}
    third = max(1, len(steady) // 3)
    first, last = steady[:third], steady[-third:]
    hours = [s.minute / 60 for s in steady]
    return {
        "rss_first_third_mb": statistics.fmean(s.rss_mb for s in first),
        "rss_last_third_mb": statistics.fmean(s.rss_mb for s in last),
        "rss_slope_mb_per_hour": trend(hours, [s.rss_mb for s in steady]),
        "p95_first_third_ms": statistics.median(s.p95_ms for s in first),
        "p95_last_third_ms": statistics.median(s.p95_ms for s in last),
        "p95_slope_ms_per_hour": trend(hours, [s.p95_ms for s in steady]),
        "p50_first_third_ms": statistics.median(s.p50_ms for s in first),
        "p50_last_third_ms": statistics.median(s.p50_ms for s in last),
    }


def write_csv(path: Path, samples: Sequence[Sample]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(Sample.__dataclass_fields__))
        writer.writeheader()
        for sample in samples:
            writer.writerow(
                {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(sample).items()}
            )


def write_json(path: Path, summary: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def plot(path: Path, samples: Sequence[Sample], title: str) -> None:
    """Three panels over minutes: memory, latency p50/p95, traffic in and out with what is outstanding."""
    import matplotlib  # type: ignore[import-untyped]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-untyped]

    minutes = [s.minute for s in samples]
    fig, (memory, latency, traffic) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    memory.plot(minutes, [s.rss_mb for s in samples], color="tab:blue")
    memory.set_ylabel("RSS of lotse serve (MB)")
    top = max((s.rss_mb for s in samples), default=1.0)
    memory.set_ylim(0, top * 1.15)
    memory.grid(alpha=0.3)
    answered = [s for s in samples if s.answers]
    latency.plot([s.minute for s in answered], [s.p50_ms for s in answered], label="p50", color="tab:green")
    latency.plot([s.minute for s in answered], [s.p95_ms for s in answered], label="p95", color="tab:orange")
    latency.set_ylabel("webhook → first answer (ms)")
    latency.set_ylim(0, max((s.p95_ms for s in answered), default=1.0) * 1.2)
    latency.legend(loc="upper left")
    latency.grid(alpha=0.3)
    traffic.plot(minutes, [s.sent_per_s for s in samples], label="messages from users /s", color="tab:purple")
    traffic.plot(minutes, [s.received_per_s for s in samples], label="messages to users /s", color="tab:gray")
    traffic.set_ylabel("messages per second")
    traffic.set_xlabel("minutes")
    traffic.grid(alpha=0.3)
    waiting = traffic.twinx()
    outstanding = [s.waiting_users + s.inbox_open + s.outbox_open for s in samples]
    waiting.plot(
        minutes,
        outstanding,
        label="outstanding (users waiting + open inbox/outbox rows)",
        color="tab:red",
        linestyle=":",
    )
    waiting.set_ylabel("outstanding")
    traffic.set_ylim(bottom=0)
    waiting.set_ylim(bottom=0)
    lines = traffic.get_legend_handles_labels()
    extra = waiting.get_legend_handles_labels()
    traffic.legend(lines[0] + extra[0], lines[1] + extra[1], loc="upper left", fontsize="small")
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
