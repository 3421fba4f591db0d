"""A caseworker for the soak test, working the console of the running `lotse serve` over HTTP.

She does what a person in the browser does, through the same routes and forms: logs in (with the
login form's CSRF token), watches the queue's rows (the page polls them), opens a new chat (which
translates the person's messages into German), takes it over, writes German replies, looks at the
translation ("Übersetzung ansehen"), sends it, and closes the chat back to Lotse. Every reply carries
a marker (`soak-<case>-<n>`) so that the final accounting can find it on the person's phone.
"""

from __future__ import annotations

import asyncio
import html
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_CASE = re.compile(r'href="/console/cases/(\d+)"')
_TEXTAREA = re.compile(r'<textarea id="text" name="text"[^>]*>(.*?)</textarea>', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="(machine|translated)" value="([01])">')
REPLIES = (
    "Guten Tag, hier ist Frau Weber vom Integrationsmanagement. Ich habe Ihre Nachricht gelesen.",
    "Kommen Sie gern am Dienstag in die Sprechstunde, bringen Sie Ihren Ausweis mit.",
    "Ich schicke Ihnen die Adresse der Beratungsstelle. Haben Sie noch Fragen?",
)


class ConsoleError(RuntimeError):
    pass


@dataclass
class Desk:
    """What the caseworker did, for the accounting: replies by case, and counts."""

    replies: dict[int, list[str]] = field(default_factory=dict)  # case id -> markers sent
    done: Counter[str] = field(default_factory=Counter)  # claimed, replied, closed, refused...
    seconds_to_claim: list[float] = field(default_factory=list)
    open_cases: int = 0


class Caseworker:
    def __init__(self, base_url: str, username: str, password: str, seed: int, concurrency: int = 6) -> None:
        self.base_url, self.username, self.password = base_url, username, password
        self.rng = random.Random(seed)
        self.desk = Desk()
        self.csrf = ""
        self._seen: set[int] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self.client = httpx.AsyncClient(base_url=base_url, timeout=60, follow_redirects=False)

    async def login(self) -> None:
        page = await self.client.get("/console/login")
        token = _CSRF.search(page.text)
        if token is None:
            raise ConsoleError(f"no login form: {page.status_code}")
        form = {"csrf": token.group(1), "username": self.username, "password": self.password}
        answer = await self.client.post("/console/login", data=form)
        if answer.status_code != 303:
            raise ConsoleError(f"login failed: {answer.status_code}")
        queue = await self.client.get("/console/queue")
        token = _CSRF.search(queue.text)
        if queue.status_code != 200 or token is None:
            raise ConsoleError(f"queue not shown after login: {queue.status_code}")
        self.csrf = token.group(1)

    async def work(self, stop: asyncio.Event, poll: float = 3.0) -> None:
        """Poll the queue as the page does and take up every new chat, until `stop` is set and none is open."""
        while True:
            rows = await self.client.get("/console/queue/rows")
            if rows.status_code != 200:
                self.desk.done[f"queue HTTP {rows.status_code}"] += 1
            for case_id in map(int, _CASE.findall(rows.text)):
                if case_id not in self._seen:
                    self._seen.add(case_id)
                    task = asyncio.create_task(self._handle(case_id))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            self.desk.open_cases = len(self._tasks)
            if stop.is_set() and not self._tasks:
                return
            await asyncio.sleep(poll)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.aclose()

    async def _handle(self, case_id: int) -> None:
        async with self._slots:
            try:
                await self._casework(case_id)
            except (httpx.HTTPError, ConsoleError) as exc:
                self.desk.done[f"failed: {type(exc).__name__}"] += 1

    async def _casework(self, case_id: int) -> None:
        page = await self.client.get(f"/console/cases/{case_id}")  # reading the chat translates it
        if page.status_code != 200:
            self.desk.done[f"open HTTP {page.status_code}"] += 1
            return
        started = time.monotonic()
        if not await self._act(case_id, "claim", {}):
            return
        self.desk.seconds_to_claim.append(time.monotonic() - started)
        self.desk.done["claimed"] += 1
        await asyncio.sleep(self.rng.uniform(3, 10))  # reading
        for n in range(self.rng.randint(1, 2)):
            marker = f"soak-{case_id}-{n}"
            await self._reply(case_id, f"{self.rng.choice(REPLIES)} ({marker})", marker)
            await asyncio.sleep(self.rng.uniform(3, 10))
        if await self._act(case_id, "close", {}):
            self.desk.done["closed"] += 1

    async def _reply(self, case_id: int, german: str, marker: str) -> None:
        shown = await self.client.post(
            f"/console/cases/{case_id}/preview", data={"csrf": self.csrf, "german": german}
        )
        if shown.status_code != 200:
            self.desk.done[f"preview HTTP {shown.status_code}"] += 1
            return
        text = _TEXTAREA.search(shown.text)
        flags = dict(_HIDDEN.findall(shown.text))
        form = {
            "german": german,
            "text": html.unescape(text.group(1)) if text else "",
            "machine": flags.get("machine", "0"),
            "translated": flags.get("translated", "0"),
        }
        if flags.get("translated") != "1":
            self.desk.done["reply untranslated"] += 1
        if await self._act(case_id, "reply", form):
            self.desk.replies.setdefault(case_id, []).append(marker)
            self.desk.done["replied"] += 1

    async def _act(self, case_id: int, action: str, form: dict[str, str]) -> bool:
        answer = await self.client.post(
            f"/console/cases/{case_id}/{action}", data={"csrf": self.csrf, **form}
        )
        if answer.status_code == 303:
            return True
        self.desk.done[f"{action} HTTP {answer.status_code}"] += 1
        return False
