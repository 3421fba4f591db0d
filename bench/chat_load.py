"""A multilingual chat workload and the loop that plays it against a server over HTTP.

The same conversations go to Lotse's web chat and to a plain Rasa server's REST webhook, so the
two differ only in the server. Each conversation is a short chat in one of the seven languages
(texts are Lotse's training examples, annotations removed); `concurrency` chats run at a time and
every chat waits for its answer before it writes again, as a person does. With `think` > 0 a chat
also pauses between its messages (a human pace) and the chats start spread over the first pauses;
with 0 they all start at once and write without pause: the server is saturated and the figure of
interest is throughput.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from bench.engine import LANGS, sample_texts


@dataclass(frozen=True)
class Conversation:
    name: str
    texts: tuple[str, ...]


def conversations(messages: int, per_chat: int = 6, seed: int = 11) -> list[Conversation]:
    """`messages` texts in chats of `per_chat`, the seven languages in turn."""
    rng = random.Random(seed)
    pools = sample_texts(rng)
    cursors = dict.fromkeys(LANGS, 0)
    chats = []
    for index in range(-(-messages // per_chat)):
        lang = LANGS[index % len(LANGS)]
        size = min(per_chat, messages - index * per_chat)
        picked = []
        for _ in range(size):
            pool = pools[lang]
            picked.append(pool[cursors[lang] % len(pool)])
            cursors[lang] += 1
        chats.append(Conversation(f"c{index:05d}-{lang}", tuple(picked)))
    return chats


class ChatClient(Protocol):
    """One server's way of holding a chat: open it, then send a text and wait for the answer."""

    name: str

    async def open(self, http: httpx.AsyncClient, conversation: Conversation) -> object: ...

    async def say(self, http: httpx.AsyncClient, chat: object, text: str) -> int:
        """Send `text` and return how many messages came back (0: no answer)."""
        ...


@dataclass
class RunResult:
    messages: int = 0
    unanswered: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, other: RunResult) -> None:
        self.messages += other.messages
        self.unanswered += other.unanswered
        self.errors += other.errors
        self.seconds += other.seconds
        self.latencies_ms += other.latencies_ms

    @property
    def throughput(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


async def play(
    client: ChatClient,
    base_url: str,
    chats: Sequence[Conversation],
    concurrency: int,
    think: float = 0.0,
    seed: int = 5,
) -> RunResult:
    """Play `chats` with `concurrency` at a time; latency is request to complete answer."""
    queue: asyncio.Queue[Conversation] = asyncio.Queue()
    for chat in chats:
        queue.put_nowait(chat)
    result = RunResult()
    rng = random.Random(seed)

    async def person(start: float) -> None:
        # A connection of its own per chat, as browsers have: one client with a pool of 50 made
        # httpcore look at every pooled connection for every request, and the load generator spent
        # more CPU per message than the server it measured (on 2 cores, taken from the server).
        # Plain HTTP to this machine: no certificates to load (25 ms of CPU per client).
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits, verify=False) as http:
            await asyncio.sleep(start)
            while not queue.empty():
                conversation = queue.get_nowait()
                try:
                    chat = await client.open(http, conversation)
                except httpx.HTTPError:
                    result.errors += len(conversation.texts)
                    continue
                for text in conversation.texts:
                    started = time.perf_counter()
                    try:
                        answers = await client.say(http, chat, text)
                    except httpx.HTTPError:
                        result.errors += 1
                        continue
                    result.latencies_ms.append((time.perf_counter() - started) * 1000)
                    result.messages += 1
                    result.unanswered += answers == 0
                    if think:
                        await asyncio.sleep(rng.uniform(think / 2, think * 3 / 2))

    # At a human pace people do not all write in the same millisecond: starts spread over the
    # first pauses. Saturated, they all start at once.
    starts = [rng.uniform(0, 2 * think) for _ in range(concurrency)]
    started = time.perf_counter()
    await asyncio.gather(*(person(start) for start in starts))
    result.seconds = time.perf_counter() - started
    return result


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (`share` in 0..1); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def latency_summary(result: RunResult) -> dict[str, float]:
    values = result.latencies_ms
    return {
        "p50_ms": statistics.median(values) if values else 0.0,
        "p95_ms": percentile(values, 0.95),
        "p99_ms": percentile(values, 0.99),
    }


class LotseWebChat:
    """Lotse's web chat API: a session per chat, each message answered in the same request."""

    name = "Lotse"

    async def open(self, http: httpx.AsyncClient, conversation: Conversation) -> object:
        response = await http.post("/webchat/api/session")
        response.raise_for_status()
        return {"session": response.json()["session"], "after": 0}

    async def say(self, http: httpx.AsyncClient, chat: object, text: str) -> int:
        assert isinstance(chat, dict)
        response = await http.post(
            "/webchat/api/messages",
            params={"wait": "30"},
            headers={"x-lotse-session": chat["session"]},
            json={"id": uuid.uuid4().hex, "text": text, "after": chat["after"]},
        )
        response.raise_for_status()
        messages = response.json().get("messages") or []
        if messages:
            chat["after"] = max(int(m["id"]) for m in messages)
        return len(messages)


class RasaRest:
    """Rasa's REST channel: the answer is the webhook's response."""

    name = "Rasa"

    async def open(self, http: httpx.AsyncClient, conversation: Conversation) -> object:
        return f"{conversation.name}-{uuid.uuid4().hex[:6]}"

    async def say(self, http: httpx.AsyncClient, chat: object, text: str) -> int:
        response = await http.post("/webhooks/rest/webhook", json={"sender": chat, "message": text})
        response.raise_for_status()
        return len(response.json())
