"""Simulated refugees for the soak test: people who write, wait for the answer, read, and write again.

Each user lives as one coroutine for the whole run. It sends a message, waits for the first answer
(as a person looks at the phone), then thinks for a random time before the next one. Think times
are exponential with a mean of users / rate, so that the sum over all users is a steady stream of
about `rate` messages a second however long the run is, with bursts as real traffic has them.

What a user sends: questions from nlu/<lang>.yml in its own language, presses of buttons Lotse
offered (or the usual ones: a town, the menu, a step of the asylum procedure), stickers and photos,
/menu, and for a share of users once in the run: a town, "talk to a person", consent, a few
messages while waiting, and after the caseworker closed the chat, the feedback button.

Every message is recorded (`Posted`) with whether an answer is owed: text, commands and button
presses are owed at least one answer unless the chat is handed to a person at that moment (from
the consent until the "assistant is back" message). Stickers and photos are answered too, but not
counted as owed.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from bench.engine import LANGS, sample_texts
from bench.mailbox import Mailbox, more_than, offering
from bench.telegram_webhook import PRESSES
from tests.fakes.telegram_updates import Updates
from tests.fakes.whatsapp import FakeGraphApi

TELEGRAM_SECRET = "soak-webhook-secret_0123456789"
TOWNS = ("reutlingen", "metzingen", "pfullingen", "bad-urach", "muensingen")
# Questions that would hand the chat to a person or answer a pending consent question are left to
# the users who ask for a person on purpose, so that handovers happen where the script says.
EXCLUDED_INTENTS = frozenset({"emergency", "human_handoff", "affirm", "asylum_rejected"})
UNSAFE_BUTTONS = ("handover", "human_handoff", "privacy", "feedback", "emergency", "cmd:language")
ANSWER_WAIT = 120.0  # seconds a user waits for an owed answer before it counts as unanswered
OWED_KINDS = frozenset({"text", "command", "button"})


@dataclass
class Posted:
    """One message a user sent, and what became of it."""

    channel: str
    chat: str
    kind: str  # text, command, button, sticker, photo
    at: float  # time.monotonic() at the start of the webhook POST
    owed: bool  # at least one answer is owed
    handover: bool  # sent while the chat was handed to a person
    accepted: bool = False  # the webhook answered 200 (after redeliveries)
    answered_at: float | None = None  # when the first message after it reached the user


@dataclass
class Traffic:
    """What all users did, shared with the sampler and the final accounting."""

    end: float  # time.monotonic() after which users start nothing new
    mean_think: float
    records: list[Posted] = field(default_factory=list)
    # the inbox's identities of the messages the webhooks accepted, per channel
    accepted_ids: dict[str, set[str]] = field(default_factory=lambda: {"telegram": set(), "whatsapp": set()})
    handovers: Counter[str] = field(default_factory=Counter)  # requested, consented, closed, ...
    rejections: Counter[str] = field(default_factory=Counter)  # webhook answers other than 200
    active: int = 0  # users still running


@dataclass
class Request:
    body: bytes
    headers: dict[str, str]
    external_id: str  # the inbox's identity of the message


class TelegramUsers:
    """Builds Telegram updates as Telegram posts them to the webhook."""

    channel = "telegram"

    def __init__(self, webhook: str, first_update: int) -> None:
        self.webhook = webhook
        self.updates = Updates(start_update_id=first_update)
        self.headers = {
            "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
            "Content-Type": "application/json",
        }

    def chat(self, user: int) -> str:
        return f"tg:{user}"

    def build(self, user: int, language: str, kind: str, value: str) -> Request:
        b = self.updates
        if kind == "text":
            update = b.text(user, value, language_code=language)
        elif kind == "command":
            update = b.command(user, value, language_code=language)
        elif kind == "button":
            update = b.callback(user, value, language_code=language)
        elif kind == "photo":
            update = b.photo(user, language_code=language)
        else:
            update = b.sticker(user, language_code=language)
        return Request(json.dumps(update).encode(), self.headers, f"u{update['update_id']}")

    def opened(self, user: int) -> None:
        """Nothing: Telegram has no window."""


class WhatsAppUsers:
    """Builds Meta's signed webhook payloads; each message opens the user's 24-hour window."""

    channel = "whatsapp"

    def __init__(self, webhook: str, graph: FakeGraphApi) -> None:
        self.webhook = webhook
        self.graph = graph

    def chat(self, user: int) -> str:
        return f"wa:{user}"

    def build(self, user: int, language: str, kind: str, value: str) -> Request:
        hooks, wa_id = self.graph.webhooks, str(user)
        if kind in ("text", "command"):
            built = hooks.text(wa_id, value)
        elif kind == "button":
            built = hooks.button_reply(wa_id, value, value.rsplit(":", 1)[-1][:20])
        elif kind == "photo":
            built = hooks.image(wa_id)
        else:
            built = hooks.sticker(wa_id)
        return Request(built.body, built.headers(self.graph.app_secret), built.message_id)

    def opened(self, user: int) -> None:
        self.graph.set_last_user_message(str(user), self.graph.now())


Side = TelegramUsers | WhatsAppUsers


@dataclass
class User:
    number: int  # Telegram user id or wa_id
    side: Side
    language: str
    town: str
    asks_person: bool
    rng: random.Random
    town_known: bool = False

    @property
    def chat(self) -> str:
        return self.side.chat(self.number)


def population(
    telegram: TelegramUsers,
    whatsapp: WhatsAppUsers,
    users: int,
    whatsapp_share: float,
    person_share: float,
    seed: int,
) -> list[User]:
    """`users` people, languages in turn, a share on WhatsApp and a share who will ask for a person."""
    rng = random.Random(seed)
    people = []
    on_whatsapp = round(users * whatsapp_share)
    for i in range(users):
        side: Side = whatsapp if i < on_whatsapp else telegram
        number = (491_600_000_000 if side is whatsapp else 6_100_000_000) + i
        people.append(
            User(
                number=number,
                side=side,
                language=LANGS[i % len(LANGS)],
                town=TOWNS[rng.randrange(len(TOWNS))],
                asks_person=rng.random() < person_share,
                rng=random.Random(seed * 1_000_003 + i),
            )
        )
    rng.shuffle(people)
    return people


class Conversations:
    """Runs the users against the webhooks and records what happened."""

    def __init__(
        self, traffic: Traffic, mailbox: Mailbox, clients: Sequence[httpx.AsyncClient], seed: int
    ) -> None:
        self.traffic, self.mailbox, self.clients = traffic, mailbox, clients
        rng = random.Random(seed)
        self.questions = sample_texts(rng, EXCLUDED_INTENTS)
        self._next_client = 0

    async def live(self, user: User) -> None:
        """One user's whole run."""
        self.traffic.active += 1
        try:
            # exponential like every later pause: the stream is steady from the first second
            await self._sleep(self._think(user))
            if not self._open():
                return
            await self._first(user)
            handover_at = user.rng.randint(1, 3) if user.asks_person else None
            step = 0
            while self._open():
                await self._sleep(self._think(user))
                if not self._open():
                    break
                step += 1
                if step == handover_at:
                    await self.ask_for_person(user)
                else:
                    await self._ordinary(user)
        finally:
            self.traffic.active -= 1

    # ----------------------------------------------------------------------------- the steps

    async def _first(self, user: User) -> None:
        if user.side.channel == "telegram":
            if user.rng.random() < 0.5:
                user.town_known = True
                await self.exchange(user, "command", f"/start {user.language}_{user.town}")
            else:
                await self.exchange(user, "command", f"/start {user.language}")
        else:  # WhatsApp tells no language: Lotse reads it from the first message
            await self.exchange(user, "text", user.rng.choice(self.questions[user.language]))

    async def _ordinary(self, user: User) -> None:
        roll = user.rng.random()
        if roll < 0.60:
            await self.exchange(user, "text", user.rng.choice(self.questions[user.language]))
        elif roll < 0.82:
            await self.exchange(user, "button", self._press(user))
        elif roll < 0.88:
            await self.exchange(user, "sticker", "")
        elif roll < 0.93:
            await self.exchange(user, "photo", "")
        else:
            await self.exchange(user, "command" if user.side.channel == "telegram" else "text", "/menu")

    def _press(self, user: User) -> str:
        """Mostly a button of the last message Lotse sent, as people do; otherwise a usual one."""
        arrived = self.mailbox.arrivals(user.chat)
        offered = [p for p in (arrived[-1].payloads if arrived else ()) if not p.startswith(UNSAFE_BUTTONS)]
        offered = [p for p in offered if not any(word in p for word in UNSAFE_BUTTONS)]
        if offered and user.rng.random() < 0.7:
            return user.rng.choice(offered)
        return user.rng.choice(PRESSES)

    async def ask_for_person(self, user: User) -> None:
        """Town, "talk to a person", consent; wait for the caseworker; feedback when the chat is back."""
        traffic, chat = self.traffic, user.chat
        if not user.town_known:
            await self.exchange(user, "button", f"town:{user.town}")
            user.town_known = True
            await self._read(user)
        before = self.mailbox.count(chat)
        traffic.handovers["asked"] += 1
        record = await self.post(user, "button", "intent:human_handoff", owed=True, handover=False)
        if not await self.mailbox.until(chat, offering("handover:yes", before), ANSWER_WAIT):
            traffic.handovers["no consent question"] += 1
            return
        self._answered(record, before)
        mark = self.mailbox.count(chat)
        await self._read(user)
        await self.exchange(user, "button", "handover:yes")
        traffic.handovers["consented"] += 1
        waiting_notes = 0
        closed = False
        while True:
            pause = user.rng.uniform(5, 25)
            if time.monotonic() >= traffic.end or waiting_notes >= 2:
                pause = traffic.end - time.monotonic() + 300  # after the end: only wait for the caseworker
            closed = await self.mailbox.until(chat, offering("feedback:helped", mark), max(pause, 1.0))
            if closed or time.monotonic() >= traffic.end + 290:
                break
            if time.monotonic() < traffic.end and waiting_notes < 2:
                waiting_notes += 1
                text = user.rng.choice(self.questions[user.language])
                await self.post(user, "text", text, owed=False, handover=True)
        if not closed:
            traffic.handovers["never handed back"] += 1
            return
        traffic.handovers["handed back"] += 1
        await self._read(user)
        if self._open():
            await self.exchange(user, "button", "feedback:helped")

    # -------------------------------------------------------------------------- sending, waiting

    async def exchange(self, user: User, kind: str, value: str) -> None:
        """Send one message and, as a person does, wait for its first answer before going on."""
        before = self.mailbox.count(user.chat)
        record = await self.post(user, kind, value, owed=kind in OWED_KINDS, handover=False)
        if record.accepted and await self.mailbox.until(user.chat, more_than(before), ANSWER_WAIT):
            self._answered(record, before)

    def _answered(self, record: Posted, before: int) -> None:
        """The first message after the `before` the chat had when `record` was posted answers it."""
        arrived = self.mailbox.arrivals(record.chat)
        if len(arrived) > before:
            record.answered_at = arrived[before].at

    async def post(self, user: User, kind: str, value: str, owed: bool, handover: bool) -> Posted:
        """POST to the webhook; a non-200 answer is posted again, as Telegram and Meta deliver again."""
        side = user.side
        request = side.build(user.number, user.language, kind, value)
        record = Posted(side.channel, user.chat, kind, time.monotonic(), owed, handover)
        self.traffic.records.append(record)
        side.opened(user.number)
        client = self.clients[self._next_client % len(self.clients)]
        self._next_client += 1
        for attempt in range(8):
            try:
                response = await client.post(side.webhook, content=request.body, headers=request.headers)
            except httpx.TransportError as exc:
                self.traffic.rejections[type(exc).__name__] += 1
            else:
                if response.status_code == 200:
                    record.accepted = True
                    self.traffic.accepted_ids[side.channel].add(request.external_id)
                    return record
                self.traffic.rejections[f"HTTP {response.status_code}"] += 1
            await asyncio.sleep(0.5 * (attempt + 1))
        return record

    # --------------------------------------------------------------------------------- pacing

    def _open(self) -> bool:
        return time.monotonic() < self.traffic.end

    def _think(self, user: User) -> float:
        """Exponential think time (so the overall stream is steady), capped at four times the mean."""
        mean = self.traffic.mean_think
        return min(user.rng.expovariate(1 / mean), 4 * mean)

    async def _read(self, user: User) -> None:
        """A few seconds to read a question before pressing its button, as nobody presses at once."""
        await self._sleep(user.rng.uniform(2, 6))

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, min(seconds, self.traffic.end - time.monotonic())))
