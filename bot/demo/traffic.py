"""`lotse demo traffic`: weeks of plausible conversations, so that a fresh demo has figures to show.

Everything goes through the product's own paths: each user message through `Engine.handle` (NLU,
dialogue, storage), each caseworker action through `Desk` (reply, close), each delivery through
`Deliveries` (marked sent, as a channel would). Nothing is inserted by hand, so the figures of
`bot.stats` see exactly what real traffic would leave. The same seed on the same database gives
the same traffic; a second run adds new users (numbered after the existing demo users).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.app import Lotse
from bot.console.accounts import Accounts, Actor, Staff, generate_password
from bot.console.errors import UnknownStaff
from bot.console.first_start import create_first_accounts
from bot.engine.messages import Inbound, Reply
from bot.handover.desk import Desk
from bot.handover.errors import HandoverError
from bot.i18n.languages import LANGUAGES
from bot.stats.topics import topic_of
from bot.storage.deliveries import Deliveries
from bot.storage.handovers import Handovers
from bot.storage.tables import conversations, handovers, users
from bot.translation.errors import TranslationUnavailable
from bot.understanding.examples import load_examples

PREFIX = "demo-"
DEMO = Actor(None, "lotse demo traffic")
# Who writes, roughly as in the district reports: mostly Arabic, Dari/Farsi and Ukrainian.
LANGUAGE_WEIGHTS = {"ar": 24, "fa": 20, "uk": 20, "ru": 10, "tr": 10, "de": 10, "en": 6}
CHANNEL_WEIGHTS = {"whatsapp": 45, "telegram": 40, "web": 15}
QUESTION_WEIGHTS = {
    "asylum_procedure": 8, "asylum_interview": 5, "asylum_decision": 4, "asylum_rejected": 2,
    "residence_status": 7, "kita_place": 10, "kita_application": 6, "sports_offers": 7, "swimming": 4,
    "counselling_hours": 6, "integration_manager": 5, "specialised_counselling": 3, "german_course": 10,
}  # fmt: skip
FOLLOW_UPS = ("topic:", "intent:", "service:")
CASEWORKER_REPLIES = (
    "Guten Tag, hier ist das Integrationsmanagement. Wie kann ich Ihnen helfen?",
    "Danke für Ihre Nachricht. Können Sie morgen in die Sprechstunde kommen?",
    "Ich habe Ihre Frage gelesen. Bitte bringen Sie Ihre Papiere in die Sprechstunde mit.",
    "Guten Tag, ich rufe Sie gern an. Wann passt es Ihnen?",
)


@dataclass
class Summary:
    users: int = 0
    messages: int = 0
    handovers: int = 0
    replied: int = 0
    closed: int = 0
    rated: int = 0
    topics: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    channels: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        def tally(counter: Counter[str]) -> str:
            return ", ".join(f"{name} {count}" for name, count in counter.most_common())

        return [
            f"users      {self.users} ({tally(self.channels)})",
            f"languages  {tally(self.languages)}",
            f"messages   {self.messages}",
            f"handovers  {self.handovers} requested, {self.replied} answered, {self.closed} closed, "
            f"{self.rated} rated",
            "per topic  " + tally(self.topics),
        ]


class _NoTranslation:
    """The demo's caseworkers write in the user's language themselves: nothing is sent anywhere."""

    async def translate(self, text: str, source: str | None, target: str) -> _Text:
        raise TranslationUnavailable("no translation in the demo")

    async def translate_many(self, texts: Sequence[str], source: str | None, target: str) -> list[None]:
        return [None for _ in texts]


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass
class _User:
    external_id: str
    channel: str
    language: str
    town: str
    moment: dt.datetime


class Simulation:
    def __init__(self, lotse: Lotse, seed: int, now: dt.datetime) -> None:
        self.lotse = lotse
        self.seed = seed
        self.now = now
        self.zone = ZoneInfo(lotse.editions.content.region.timezone)
        self.examples = load_examples(lotse.settings.nlu_dir, tuple(LANGUAGES))
        self.accounts = Accounts(lotse.database)
        self.staff: dict[str | None, Staff] = {}
        self.clock = now
        self.desk = Desk(
            Handovers(lotse.database), lotse.editions, _NoTranslation(), clock=lambda: self.clock
        )
        self.summary = Summary()
        self.rng = random.Random(seed)

    # ------------------------------------------------------------------ the run
    async def run(self, days: int, count: int) -> Summary:
        await create_first_accounts(self.accounts, self.lotse.settings.var_dir)  # as `lotse serve` would
        first = await self._next_number()
        self.rng = random.Random(f"{self.seed}:{first}")  # same seed, later run: other users, other traffic
        towns = sorted(self.lotse.editions.content.towns)
        for number in range(first, first + count):
            language = _weighted(self.rng, LANGUAGE_WEIGHTS)
            channel = _weighted(self.rng, CHANNEL_WEIGHTS)
            user = _User(
                f"{PREFIX}{number:06d}", channel, language, self.rng.choice(towns), self._moment(days)
            )
            self.summary.users += 1
            self.summary.languages[language] += 1
            self.summary.channels[channel] += 1
            await self.conversation(user)
        await self._deliver()
        return self.summary

    def _moment(self, days: int) -> dt.datetime:
        """A moment in the last `days` days: mostly office hours on weekdays, some evenings."""
        today = self.now.astimezone(self.zone).date()
        while True:
            day = today - dt.timedelta(days=self.rng.randrange(1, days + 1))
            if self.rng.random() < 0.7 and day.weekday() < 5:
                minutes = self.rng.randrange(8 * 60, 17 * 60)
            else:
                minutes = self.rng.randrange(17 * 60, 22 * 60 + 30)
            moment = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), self.zone)
            if moment < self.now - dt.timedelta(hours=2):
                return moment.astimezone(dt.timezone.utc)

    async def _next_number(self) -> int:
        async with self.lotse.database.connect() as conn:
            ids = (
                await conn.execute(
                    sa.select(users.c.external_id).where(users.c.external_id.like(f"{PREFIX}%"))
                )
            ).scalars()
            numbers = [int(i[len(PREFIX) :]) for i in ids if i[len(PREFIX) :].isdigit()]
        return max(numbers, default=0) + 1

    # ------------------------------------------------------------------ one user
    async def say(self, user: _User, intent: str) -> Reply | None:
        texts = self.examples.get((user.language, intent)) or self.examples.get(("de", intent))
        if not texts:
            return None
        return await self._send(user, text=self.rng.choice(texts))

    async def press(self, user: _User, payload: str) -> Reply:
        return await self._send(user, payload=payload)

    async def _send(self, user: _User, text: str = "", payload: str | None = None) -> Reply:
        hint = None if user.channel == "whatsapp" else user.language  # WhatsApp sends no client language
        reply = await self.lotse.engine.handle(
            Inbound(user.channel, user.external_id, text=text, payload=payload, language_hint=hint),
            now=user.moment,
        )
        user.moment += dt.timedelta(seconds=self.rng.randrange(20, 240))
        self.summary.messages += 1
        self.summary.topics[topic_of(reply.intent)] += 1
        return reply

    async def conversation(self, user: _User) -> None:
        rng = self.rng
        if rng.random() < 0.5:
            await self.say(user, "greet")
        reply = None
        for _ in range(rng.choice((1, 2, 2, 3, 3, 4))):
            reply = await self.say(user, _weighted(rng, QUESTION_WEIGHTS))
            if reply is not None:
                reply = await self.follow(user, reply)
        if rng.random() < 0.08:
            reply = await self.say(user, "out_of_scope")
        offered = reply is not None and "handover:offer" in _payloads(reply)
        if rng.random() < (0.5 if offered else 0.2):
            reply = await (self.press(user, "handover:offer") if offered else self.say(user, "human_handoff"))
            if reply is not None and "handover:yes" in _payloads(reply) and rng.random() < 0.85:
                reply = await self.follow(user, await self.press(user, "handover:yes"))
                await self.caseworker(user)
                return
        if rng.random() < 0.4:
            await self.say(user, rng.choice(("thanks", "goodbye")))

    async def follow(self, user: _User, reply: Reply) -> Reply:
        """Answer what the bot asked (town, child's age, residence), or sometimes press a topic button."""
        for _ in range(3):
            payloads = _payloads(reply)
            if f"town:{user.town}" in payloads:
                reply = await self.press(user, f"town:{user.town}")
            elif any(p.startswith(("age:", "status:")) for p in payloads):
                reply = await self.press(
                    user, self.rng.choice([p for p in payloads if p.startswith(("age:", "status:"))])
                )
            elif self.rng.random() < 0.35 and (more := [p for p in payloads if p.startswith(FOLLOW_UPS)]):
                return await self.press(user, self.rng.choice(more))
            else:
                break
        return reply

    # ------------------------------------------------------------------ the caseworker's side
    async def caseworker(self, user: _User) -> None:
        rng = self.rng
        case_id, team = await self._open_case(user)
        if case_id is None:
            return
        self.summary.handovers += 1
        if rng.random() > 0.9:
            return  # still waiting
        hours = rng.uniform(0.1, 4.0) if rng.random() < 0.7 else rng.uniform(4.0, 20.0)
        moment = user.moment + dt.timedelta(hours=hours)
        if moment > self.now:
            return
        actor = await self._staff(team)
        try:
            self.clock = moment
            reply = rng.choice(CASEWORKER_REPLIES)
            await self.desk.reply(actor, case_id, reply, reply, machine=False)
            self.summary.replied += 1
            user.moment = moment + dt.timedelta(minutes=rng.randrange(5, 90))
            if user.moment < self.now:
                await self.say(user, "thanks")  # to the caseworker: the bot stays silent
            if rng.random() > 0.85:
                return
            self.clock = max(moment, user.moment) + dt.timedelta(hours=rng.uniform(0.3, 30.0))
            if self.clock > self.now:
                return
            await self.desk.close(actor, case_id)
            self.summary.closed += 1
        except HandoverError:
            return  # e.g. WhatsApp's window closed: a real caseworker would wait too
        user.moment = self.clock + dt.timedelta(minutes=rng.randrange(1, 120))
        if rng.random() < 0.65 and user.moment < self.now:
            await self.press(user, "feedback:helped" if rng.random() < 0.75 else "feedback:not_helped")
            self.summary.rated += 1

    async def _open_case(self, user: _User) -> tuple[int | None, str | None]:
        async with self.lotse.database.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(handovers.c.id, handovers.c.team_id)
                    .join(conversations, conversations.c.id == handovers.c.conversation_id)
                    .join(users, users.c.id == conversations.c.user_id)
                    .where(
                        users.c.channel == user.channel,
                        users.c.external_id == user.external_id,
                        handovers.c.status != "closed",
                    )
                )
            ).first()
        return (None, None) if row is None else (row.id, row.team_id)

    async def _staff(self, team: str | None) -> Staff:
        """A demo caseworker of the team (a lead for a chat without one), disabled: nobody logs in."""
        if team in self.staff:
            return self.staff[team]
        username = f"{PREFIX}{team or 'leitung'}"[:64]
        try:
            account = await self.accounts.get(username)
        except UnknownStaff:
            role, teams = ("caseworker", [team]) if team else ("lead", [])
            account = await self.accounts.create(
                username, generate_password(), role, teams, f"Demo {team or 'Leitung'}", by=DEMO
            )
            await self.accounts.disable(username, by=DEMO)
        self.staff[team] = account
        return account

    async def _deliver(self) -> None:
        """Mark what the desk queued for demo users as sent: there is nobody to deliver it to."""
        deliveries = Deliveries(self.lotse.database)
        for channel in CHANNEL_WEIGHTS:
            while items := await deliveries.claim_outbox(
                channel, self.now, 200, ready=lambda chat: chat.startswith(PREFIX)
            ):
                for item in items:
                    await deliveries.sent(item, self.now)


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _payloads(reply: Reply) -> list[str]:
    return [b.payload for m in reply.messages for b in m.buttons]


async def simulate(lotse: Lotse, days: int, count: int, seed: int, now: dt.datetime | None = None) -> Summary:
    moment = now or dt.datetime.now(dt.timezone.utc)
    return await Simulation(lotse, seed, moment).run(days, count)
