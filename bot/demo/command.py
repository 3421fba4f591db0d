"""`lotse demo traffic`: the command line around `bot.demo.traffic`."""

from __future__ import annotations

import argparse
import time
from typing import Any

from bot.errors import LotseError


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="demo data for the demo district")
    demo_sub = demo.add_subparsers(dest="action", required=True)
    traffic = demo_sub.add_parser(
        "traffic", help="simulated conversations through the real engine, for the statistics"
    )
    traffic.add_argument("--days", type=int, default=60, help="spread over the last DAYS days (default 60)")
    traffic.add_argument("--users", type=int, help="simulated users (default: 8 per day)")
    traffic.add_argument("--seed", type=int, default=1, help="the same seed gives the same traffic")
    traffic.set_defaults(func=_traffic, is_async=True)


async def _traffic(args: argparse.Namespace) -> int:
    from bot.app import build
    from bot.demo.traffic import simulate

    if args.days < 1:
        raise LotseError(f"--days must be at least 1, not {args.days}")
    count = args.users if args.users is not None else 8 * args.days
    if count < 1:
        raise LotseError(f"--users must be at least 1, not {count}")
    lotse = await build()
    try:
        started = time.monotonic()
        summary = await simulate(lotse, args.days, count, args.seed)
        elapsed = time.monotonic() - started
    finally:
        await lotse.close()
    database = lotse.database.url.render_as_string(hide_password=True)
    print(f"simulated {args.days} days of traffic in {elapsed:.0f} s into {database}")
    for line in summary.lines():
        print(f"  {line}")
    return 0
