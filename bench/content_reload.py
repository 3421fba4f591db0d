"""Live content benchmark: what watching and reloading `content/` and `locales/` costs `lotse serve`.

On a copy of the shipped content and catalogs, measures with the server's own `ContentReloader`:

- one poll when nothing changed (the directory walk `lotse serve` does every second),
- one reload after an editor saved a file (validate all content, read all catalogs, publish),
- a refused reload (a weekday typo: the whole content is read and nothing is published).

    .venv/bin/python bench/content_reload.py [--rounds 30]

Reports medians and p95 in milliseconds. Run by hand; never a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bot.config import PROJECT_ROOT, Settings
from bot.live.editions import Editions
from bot.live.reloader import ContentReloader, load_edition


def _summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"  {name:<34} median {statistics.median(ordered):7.2f} ms   p95 {p95:7.2f} ms   (n={len(ordered)})"


async def measure(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="lotse-reload-") as tmp:
        settings = dataclasses.replace(
            Settings(), content_dir=Path(tmp) / "content", locales_dir=Path(tmp) / "locales"
        )
        shutil.copytree(PROJECT_ROOT / "content", settings.content_dir)
        shutil.copytree(PROJECT_ROOT / "locales", settings.locales_dir)
        reloader = ContentReloader(settings, Editions(*load_edition(settings)), settle=0.0)
        files = sum(1 for _ in settings.content_dir.rglob("*.yml")) + sum(
            1 for _ in settings.locales_dir.rglob("*.po")
        )
        print(f"{files} watched files")

        idle: list[float] = []
        for _ in range(rounds * 10):
            started = time.perf_counter()
            assert await reloader.check() is None
            idle.append(1000 * (time.perf_counter() - started))

        sports = settings.content_dir / "places" / "sports.yml"
        original = sports.read_text(encoding="utf-8")
        reloads: list[float] = []
        for number in range(rounds):
            sports.write_text(original + f"# saved {number}\n", encoding="utf-8")
            started = time.perf_counter()
            assert await reloader.check() is not None
            reloads.append(1000 * (time.perf_counter() - started))

        teams = settings.content_dir / "teams.yml"
        good = teams.read_text(encoding="utf-8")
        refused: list[float] = []
        for number in range(rounds):
            teams.write_text(good.replace("wed:", "wednsday:", 1) + f"# {number}\n", encoding="utf-8")
            started = time.perf_counter()
            assert await reloader.check() is None and reloader.refused
            refused.append(1000 * (time.perf_counter() - started))
        teams.write_text(good, encoding="utf-8")

        print(_summary("poll, nothing changed", idle))
        print(_summary("reload after a saved file", reloads))
        print(_summary("refused reload (weekday typo)", refused))
        print(f"  a poll costs {statistics.median(idle) / 1000:.5f} of the 1 s interval")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    import logging

    logging.getLogger("bot.live").setLevel(logging.CRITICAL)  # the refusals are the point here
    asyncio.run(measure(args.rounds))


if __name__ == "__main__":
    main()
