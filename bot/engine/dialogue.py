"""One dialogue step: from an understood message and the conversation state to the answer.

The order is fixed and deliberate: buttons and commands first (they are unambiguous), then the
safety net (danger is answered before anything else), then understanding, then slot filling
(town, child's age, residence situation), then the curated answer. Nothing here is generated:
every sentence a refugee reads comes from `content/` or from the gettext catalogs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.engine import flood
from bot.engine.messages import NON_TEXT_KINDS, Button, Inbound, Outbound
from bot.engine.normalise import digits_to_ascii, for_matching, has_words, too_long_to_understand
from bot.engine.render import Renderer
from bot.engine.safety import SafetyHit, SafetyNet
from bot.engine.state import ConversationState, HandoverRequest
from bot.engine.understanding import FALLBACK_INTENT, Parse
from bot.handover import notices
from bot.handover.priority import priority_of
from bot.handover.sla import first_response_due
from bot.i18n.catalogs import N_, Translator
from bot.i18n.languages import LANGUAGES, SOURCE_LANGUAGE
from bot.knowledge.schema import Team
from bot.live.editions import Edition, Editions

CONFIDENCE_THRESHOLD = 0.3
EMERGENCY_THRESHOLD = 0.45

# What the user sees on menu and "did you mean" buttons; German source, translated via gettext.
INTENT_LABELS: dict[str, str] = {
    "asylum_procedure": N_("Asylverfahren"),
    "asylum_interview": N_("Anhörung beim BAMF"),
    "asylum_decision": N_("Bescheid und Schutz"),
    "asylum_rejected": N_("Asylantrag abgelehnt"),
    "residence_status": N_("Aufenthaltspapiere"),
    "kita_place": N_("Kita-Platz"),
    "kita_application": N_("Kita-Anmeldung und Kosten"),
    "sports_offers": N_("Sportangebote"),
    "swimming": N_("Schwimmkurse"),
    "counselling_hours": N_("Sprechzeiten"),
    "integration_manager": N_("Mein Integrationsmanagement"),
    "specialised_counselling": N_("Beratungsstellen"),
    "german_course": N_("Deutschkurse"),
    "emergency": N_("Notfall"),
    "human_handoff": N_("Mit einer Person sprechen"),
}
MENU_INTENTS: tuple[str, ...] = (
    "asylum_procedure", "residence_status", "kita_place", "sports_offers", "swimming",
    "counselling_hours", "integration_manager", "specialised_counselling", "german_course", "human_handoff",
)  # fmt: skip
TOWN_INTENTS = frozenset(
    {
        "sports_offers",
        "swimming",
        "counselling_hours",
        "integration_manager",
        "kita_application",
        "human_handoff",
    }
)
SERVICES: dict[str, str] = {
    "trauma": "counselling.trauma",
    "pregnancy_family": "counselling.pregnancy_family",
    "migration": "counselling.migration",
    "violence": "counselling.violence",
}
AGE_GROUPS: dict[str, str] = {
    "under1": "kita.age.under1",
    "u3": "kita.age.u3",
    "kindergarten": "kita.age.kindergarten",
    "school": "kita.age.school",
}
EMERGENCY_TOPICS = {
    "suicide": "emergency.suicide",
    "violence": "emergency.violence",
    "medical": "emergency.medical",
}
_MONTHS = re.compile(r"(monat|month|شهر|ماه|месяц|місяц|ay\b|aylık|hafta|week|woche)")
_YEARS = re.compile(
    r"\d{1,2}\s*-?\s*(jahr|j\b|year|yr|рок|рік|рочк|лет|год|годик|yaş|yas|سنة|سنه|سنين|سنوات|ساله|سال)"
)
# Who an offer is for, as people say it in the seven languages (stems, matched on folded text).
TARGET_WORDS: dict[str, tuple[str, ...]] = {
    "girls": ("mädchen", "madchen", "girl", "بنات", "للبنات", "دختر", "дівчат", "дівчин", "девоч", "девушк", "kız", "kiz"),
    "women": (
        "frau", "women", "woman", "ladies", "lady", "نساء", "نسائ", "للنساء", "ستات", "زنان", "زنانه", "خانم",
        "жінок", "жіноч", "женщин", "женск", "kadın", "kadin", "bayan",
    ),
    "children": (
        "kind", "child", "kids", "kid ", "أطفال", "اطفال", "ولاد", "ابني", "بنتي", "کودک", "بچه",
        "дит", "діт", "дет", "ребен", "ребён", "сын", "син", "çocuk", "cocuk", "oğl", "ogl",
    ),
}  # fmt: skip
_NUMBER = re.compile(r"(?<!\d)(\d{1,2})(?!\d)")


@dataclass
class Turn:
    """What one dialogue step produced."""

    language: str
    messages: list[Outbound] = field(default_factory=list)
    intent: str | None = None
    confidence: float = 0.0
    answer_key: str | None = None
    handover: bool = False
    handover_request: HandoverRequest | None = None
    feedback: str | None = None  # helped | not_helped, the answer to "did the conversation help?"
    silent: bool = False
    erase: bool = False  # delete everything stored about the user instead of saving the turn
    export: bool = False  # append an export of what is stored about the user


class Dialogue:
    def __init__(self, editions: Editions) -> None:
        self.editions = editions
        self._safety: tuple[Edition, SafetyNet] | None = None

    def safety(self, edition: Edition) -> SafetyNet:
        """The safety net of an edition, built once: its word lists come from `content/safety`."""
        if self._safety is None or self._safety[0] is not edition:
            self._safety = (edition, SafetyNet(edition.content.safety))
        return self._safety[1]

    # ------------------------------------------------------------------ entry point
    def respond(
        self,
        state: ConversationState,
        inbound: Inbound,
        parse: Parse,
        detected: str | None,
        now: dt.datetime,
        flooded: bool = False,
    ) -> Turn:
        """Decide the reply; changes `state` in place. `flooded`: over the limit of bot.engine.flood."""
        language_known = self._choose_language(state, inbound, detected)
        edition = self.editions.current  # one edition for the whole turn, even if editors publish
        safety = self.safety(edition)
        step = _Step(edition, state, now)
        text = inbound.text or ""
        if state.status != "human":
            state.set_slot("human_acknowledged", None)  # the next handover acknowledges afresh
        elif not _privacy_request(inbound):
            hit = safety.check(text) if has_words(text) else None
            return step.while_human(hit, parse)
        if not flooded:
            state.set_slot(flood.NOTICE_SENT, None)  # the next flood gets its own notice
        elif not _privacy_request(inbound) and not _urgent(safety, inbound, parse, state):
            return step.throttled()
        if inbound.kind == "group":
            step.group_chat()
            return step.finish()
        if inbound.kind in NON_TEXT_KINDS:
            # A photo's caption is a question like any other, and a cry for help in it comes first.
            hit = safety.check(text) if has_words(text) else None
            if hit is not None:
                step.emergency(hit, parse)
            else:
                step.non_text(inbound.kind)
                if has_words(text):
                    step.understood(text, parse)
        elif inbound.payload:
            step.button(inbound.payload)
        elif text.strip().startswith("/"):
            step.command(text.strip())
        elif not has_words(text):
            step.unreadable()
        else:
            hit = safety.check(text)
            if hit is not None:
                step.emergency(hit, parse)
            else:
                step.understood(text, parse)
        if (
            has_words(text)
            and not inbound.payload
            and not text.startswith("/")
            and too_long_to_understand(text)
        ):
            step.long_text()
        if state.is_new:
            step.privacy_notice()  # after the answer, so that an emergency answer stays first
            if not language_known:
                step.ask_language()
        return step.finish()

    def _choose_language(self, state: ConversationState, inbound: Inbound, detected: str | None) -> bool:
        """Set the reply language; False when nothing said which one the user reads.

        That happens on WhatsApp, which sends no client language, when the first message is a
        photo or a word too short to tell: the first answer is then German, followed by a question.
        """
        if state.language_explicit and state.language:
            return True
        if detected:
            state.language = detected
            return True
        if not state.language:
            from bot.i18n.languages import supported

            hinted = supported(inbound.language_hint)
            state.language = hinted or SOURCE_LANGUAGE
            return hinted is not None
        return True


class _Step:
    """The work of one turn, with the translator and renderer for the user's language."""

    def __init__(self, edition: Edition, state: ConversationState, now: dt.datetime) -> None:
        self.content = edition.content
        self.catalogs = edition.catalogs
        self.state = state
        self.now = now
        self.turn = Turn(language=state.language or SOURCE_LANGUAGE)
        self.tr = Translator(self.catalogs, self.turn.language)
        self.r = Renderer(self.content, self.tr)
        self._ = self.tr._

    # ------------------------------------------------------------------ output helpers
    def say(self, text: str, buttons: Sequence[Button] = ()) -> None:
        if self.tr.unreviewed_used:
            text += "\n\n" + self._("(automatische Übersetzung)")
            self.tr.unreviewed_used = False
        self.turn.messages.append(Outbound(text.strip(), tuple(buttons)))

    def answered(self, key: str | None, intent: str | None = None) -> None:
        if key:
            self.turn.answer_key = key
        if intent:
            self.turn.intent = intent

    def finish(self) -> Turn:
        return self.turn

    def button_for(self, intent: str) -> Button:
        return Button(self._(INTENT_LABELS[intent]), f"intent:{intent}")

    def menu_buttons(self) -> list[Button]:
        return [self.button_for(i) for i in MENU_INTENTS] + [
            Button(self._("Sprache / Language"), "cmd:language")
        ]

    def town_change_button(self) -> Button:
        return Button(self._("Ort ändern"), "town:change")

    def relanguage(self) -> None:
        """Re-create translator and renderer after the language changed mid-turn."""
        self.turn.language = self.state.language or SOURCE_LANGUAGE
        self.tr = Translator(self.catalogs, self.turn.language)
        self.r = Renderer(self.content, self.tr)
        self._ = self.tr._

    # ------------------------------------------------------------------ special inputs
    def privacy_notice(self) -> None:
        self.say(
            self.r.text(self.content.topic("privacy.short")),
            [Button(self._("Datenschutz (ganzer Text)"), "topic:privacy.full")],
        )

    def while_human(self, hit: SafetyHit | None, parse: Parse) -> Turn:
        """A caseworker owns the chat: the bot keeps quiet, except when the user is in danger.

        The caseworker may be in a meeting or gone home; the emergency numbers must not wait for
        them. The handover's priority is raised so that the console shows it first.
        """
        if hit is not None or (parse.intent == "emergency" and parse.confidence >= EMERGENCY_THRESHOLD):
            self.emergency(hit, parse, offer_person=False)
            self.queue_handover("emergency")
            return self.turn
        return self.silent_while_human()

    def silent_while_human(self) -> Turn:
        """Store the message for the caseworker; acknowledge at most once."""
        if not self.state.slot("human_acknowledged"):
            self.state.set_slot("human_acknowledged", True)
            self.say(
                self._(
                    "Ihre Nachricht ist angekommen. Eine Mitarbeiterin oder ein Mitarbeiter antwortet Ihnen hier."
                )
            )
        self.turn.silent = not self.turn.messages
        return self.turn

    def throttled(self) -> Turn:
        """Over the flood limit: stored for the caseworker, not answered; the first one says why."""
        self.turn.intent = flood.THROTTLED_INTENT
        if not self.state.slot(flood.NOTICE_SENT):
            self.state.set_slot(flood.NOTICE_SENT, True)
            self.say(flood.notice(self._))
        self.turn.silent = not self.turn.messages
        return self.turn

    def long_text(self) -> None:
        """Understanding read only the beginning (bot.engine.normalise): say so, not pretend otherwise."""
        self.say(
            self._(
                "Ihre Nachricht ist sehr lang. Ich habe nur den Anfang gelesen. Wenn meine Antwort nicht passt, schreiben Sie mir Ihre Frage bitte kurz in ein oder zwei Sätzen."
            )
        )

    def unreadable(self) -> None:
        self.turn.intent = FALLBACK_INTENT
        self.say(
            self._(
                "Ich kann leider nur geschriebenen Text lesen. Bitte schreiben Sie Ihre Frage in ein paar Worten oder wählen Sie ein Thema:"
            ),
            self.menu_buttons(),
        )

    def non_text(self, kind: str) -> None:
        """A photo, voice note, sticker...: say kindly what Lotse can do instead, in the user's language."""
        self.turn.intent = self.turn.intent or f"non_text:{kind}"
        if kind in {"photo", "document", "video"}:
            self.say(
                self._(
                    "Bilder, Videos und Dateien kann ich leider nicht öffnen. Geht es um einen Brief vom Amt? Schreiben Sie mir in ein paar Worten, worum es geht, oder sprechen Sie mit einer Person."
                ),
                [self.button_for("human_handoff"), Button(self._("Themen"), "cmd:menu")],
            )
        elif kind in {"voice", "audio", "video_note"}:
            self.say(
                self._(
                    "Sprachnachrichten kann ich leider nicht anhören. Bitte schreiben Sie Ihre Frage, gern in Ihrer eigenen Sprache."
                ),
                self.menu_buttons(),
            )
        elif kind in {"sticker", "animation", "reaction"}:
            self.say(self._("Schreiben Sie mir Ihre Frage, oder wählen Sie ein Thema:"), self.menu_buttons())
        elif kind == "location":
            self.say(self._("Danke! Mit einem Standort kann ich leider nichts anfangen."))
            self.ask_town(self.state.slot("pending_intent"))
        elif kind == "contact":
            self.say(
                self._(
                    "Kontakte brauche ich nicht. Bitte teilen Sie hier keine Telefonnummern oder Daten anderer Personen. Wobei kann ich helfen?"
                ),
                self.menu_buttons(),
            )
        else:
            self.unreadable()

    def group_chat(self) -> None:
        """Questions about asylum or a child's Kita are private: Lotse answers only one person at a time."""
        self.turn.intent = "group_chat"
        self.say(
            self._(
                "Ich antworte nur in privaten Chats, damit Ihre Fragen privat bleiben. Bitte schreiben Sie mir direkt."
            )
        )

    def command(self, text: str) -> None:
        name, _, argument = text[1:].partition(" ")
        name = name.split("@")[0].lower()
        if name == "start":
            self.start(argument.strip())
        elif name in {"help", "menu", "hilfe"}:
            self.menu()
        elif name in {"language", "sprache"}:
            self.language_menu()
        elif name in {"town", "ort"}:
            self.ask_town(None)
        elif name in {"delete", "löschen"}:
            self.turn.intent = "privacy_delete"
            self.say(
                self._(
                    "Möchten Sie wirklich alle Ihre Daten bei Lotse löschen? Das kann man nicht rückgängig machen."
                ),
                [
                    Button(self._("Ja, alles löschen"), "privacy:delete"),
                    Button(self._("Nein, abbrechen"), "cmd:menu"),
                ],
            )
        elif name in {"mydata", "meinedaten"}:
            self.turn.intent = "privacy_export"
            self.turn.export = True
            self.say(self._("Diese Daten sind über Sie gespeichert:"))
        elif name in {"privacy", "datenschutz"}:
            self.say(self.r.topic("privacy.full"))
            self.answered("privacy.full")
        else:
            self.say(self._("Diesen Befehl kenne ich nicht."), self.menu_buttons())

    def start(self, argument: str) -> None:
        """`/start ar_reutlingen`: a deep link from a poster presets language and town.

        Words are split on "_" first: town ids such as "bad-urach" contain "-", which only separates
        words when the part is not a town or language as a whole ("ar-reutlingen").
        """
        for word in re.split(r"[_\s]+", argument.lower()):
            parts = [word] if word in LANGUAGES or word in self.content.towns else word.split("-")
            for part in parts:
                self._start_part(part)
        self.greet()

    def _start_part(self, part: str) -> None:
        if part in LANGUAGES:
            self.state.language, self.state.language_explicit = part, True
            self.relanguage()
        elif part in self.content.towns:
            self.state.town = part

    # ------------------------------------------------------------------ buttons
    def button(self, payload: str) -> None:
        kind, _, value = payload.partition(":")
        handlers: dict[str, Callable[[str], None]] = {
            "intent": self.button_intent,
            "topic": self.button_topic,
            "lang": self.button_language,
            "town": self.button_town,
            "age": self.button_age,
            "status": self.button_status,
            "service": self.button_service,
            "handover": self.button_handover,
            "feedback": self.button_feedback,
            "cmd": self.button_command,
            "privacy": self.button_privacy,
        }
        handler = handlers.get(kind)
        if handler is None:
            self.unknown_button()
            return
        handler(value)

    def unknown_button(self) -> None:
        self.turn.intent = FALLBACK_INTENT
        self.say(self._("Diese Auswahl ist nicht mehr gültig. Bitte wählen Sie neu:"), self.menu_buttons())

    def button_intent(self, intent: str) -> None:
        if intent not in INTENT_LABELS and intent not in {"greet", "bot_capabilities"}:
            self.unknown_button()
            return
        self.state.misses = 0
        self.dispatch(intent, 1.0)

    def button_topic(self, key: str) -> None:
        if key not in self.content.topics:
            self.unknown_button()
            return
        if key in self.content.steps:
            self.asylum_step(key)
            return
        topic = self.content.topic(key)
        buttons: list[Button] = []
        if topic.handover:
            buttons.append(Button(self._("Mit einer Person sprechen"), "handover:offer"))
            self.turn.handover = True
        self.say(self.r.topic(key), buttons)
        self.answered(key, topic.intent)

    def button_language(self, code: str) -> None:
        if code not in LANGUAGES:
            self.unknown_button()
            return
        self.state.language, self.state.language_explicit = code, True
        self.relanguage()
        self.turn.intent = "change_language"
        self.say(
            self._("Ich antworte jetzt auf Deutsch.")
            if code == "de"
            else self._("Ich antworte jetzt in Ihrer Sprache."),
            self.menu_buttons(),
        )

    def button_town(self, town_id: str) -> None:
        if town_id == "change":
            self.ask_town(None)
            return
        if town_id not in self.content.towns:
            self.unknown_button()
            return
        self.state.town = town_id
        self.resume_pending(town_set=True)

    def button_age(self, group: str) -> None:
        if group not in AGE_GROUPS:
            self.unknown_button()
            return
        self.state.set_slot("age_group", group)
        self.kita_place()

    def button_status(self, status: str) -> None:
        if status not in {"reception", "municipality"}:
            self.unknown_button()
            return
        self.state.set_slot("kita_status", status)
        self.kita_place()

    def button_service(self, service: str) -> None:
        if service not in SERVICES:
            self.unknown_button()
            return
        self.specialised(service)

    def button_handover(self, value: str) -> None:
        if value == "offer":
            self.human_handoff(self.state.slot("handover_reason") or "user_request")
        elif value == "yes":
            self.handover_confirmed()
        elif value == "no":
            self.state.set_slot("pending", None)
            self.turn.intent = "deny"
            self.say(self._("In Ordnung. Wobei kann ich Ihnen sonst helfen?"), self.menu_buttons())
        else:
            self.unknown_button()

    def button_privacy(self, value: str) -> None:
        if value != "delete":
            self.unknown_button()
            return
        self.turn.intent = "privacy_delete"
        self.turn.erase = True
        self.turn.messages.clear()
        self.say(self._("Ihre Daten sind gelöscht. Wenn Sie wieder schreiben, beginnt ein neues Gespräch."))

    def button_command(self, value: str) -> None:
        if value == "language":
            self.language_menu()
        elif value == "menu":
            self.menu()
        else:
            self.unknown_button()

    # ------------------------------------------------------------------ understanding
    def understood(self, text: str, parse: Parse) -> None:
        self.turn.intent, self.turn.confidence = parse.intent, parse.confidence
        self.take_entities(text, parse)
        pending = self.state.slot("pending")
        if pending == "town" and self.state.slot("town_from_text"):
            self.state.set_slot("town_from_text", None)
            if (
                parse.intent in {FALLBACK_INTENT, "affirm", "deny", "greet", "thanks"}
                or parse.confidence < 0.6
            ):
                self.resume_pending(town_set=True)
                return
        elif pending == "town" and (parse.intent == FALLBACK_INTENT or parse.confidence < 0.6):
            self.say(
                self._("Diesen Ort kenne ich leider nicht. Bitte wählen Sie einen Ort im {region}.").format(
                    region=self.content.region.name
                )
            )
            self.ask_town(self.state.slot("pending_intent"))
            return
        if (
            pending == "age"
            and self.state.slot("age_group")
            and parse.intent in {FALLBACK_INTENT, "kita_place"}
        ):
            self.kita_place()
            return
        if pending == "handover" and parse.intent in {"affirm", "deny"}:
            self.button_handover("yes" if parse.intent == "affirm" else "no")
            return
        if parse.intent == "emergency" and parse.confidence >= EMERGENCY_THRESHOLD:
            self.emergency(None, parse)
            return
        # An emergency below its own threshold is a guess, never the full emergency answer
        # ("Ich wohne in Hülben" is not a cry for help): not understood, with the emergency one tap away.
        if parse.intent in {FALLBACK_INTENT, "emergency"} or parse.confidence < CONFIDENCE_THRESHOLD:
            self.misunderstood(parse)
            return
        self.state.misses = 0
        self.dispatch(parse.intent, parse.confidence)

    def take_entities(self, text: str, parse: Parse) -> None:
        town = None
        entity = parse.entity("municipality")
        if entity is not None:
            town = self.content.find_town(entity.value) or self.content.find_town(entity.text)
        if town is None:
            town = (
                self.content.find_town(text)
                if self.state.slot("pending") == "town"
                else self.content.town_in_text(text)
            )
        if town is not None:
            self.state.town = town.id
            self.state.set_slot("town_from_text", True)
        folded = for_matching(text)
        if not self.state.slot("pending"):
            self.state.set_slot("target_group", None)  # each new question says anew whom it is for
        for audience, words in TARGET_WORDS.items():
            if any(word in folded for word in words):
                self.state.set_slot("target_group", audience)
                break
        sport = parse.entity("sport")
        if sport is not None:
            self.state.set_slot("sport", sport.value)
        language = parse.entity("language")
        if language is not None and parse.intent == "change_language" and language.value in LANGUAGES:
            self.state.set_slot("requested_language", language.value)
        age = parse.entity("child_age")
        group = _age_group(
            text if age is None else age.value, self.state.slot("pending") == "age" or age is not None
        )
        if group is None and parse.intent == "kita_place":
            group = _age_group(text, expecting=False)
        if group:
            self.state.set_slot("age_group", group)

    def misunderstood(self, parse: Parse) -> None:
        self.turn.intent = FALLBACK_INTENT
        self.state.misses += 1
        if self.state.misses >= 2:
            self.state.misses = 0
            self.say(self._("Es tut mir leid, ich verstehe Sie leider nicht richtig."))
            self.human_handoff("misunderstanding")
            return
        guesses = [i for i, _score in parse.ranking if i in INTENT_LABELS and i != "emergency"][:3]
        buttons = [self.button_for(i) for i in guesses]
        if parse.intent == "emergency":  # unsure: the emergency numbers are one tap away, not imposed
            buttons.insert(0, self.button_for("emergency"))
        buttons.append(Button(self._("Menü"), "cmd:menu"))
        self.say(self._("Das habe ich leider nicht verstanden. Meinten Sie eines davon?"), buttons)

    # ------------------------------------------------------------------ intents
    def dispatch(self, intent: str, confidence: float) -> None:
        self.turn.intent = intent
        self.turn.confidence = confidence
        if intent in TOWN_INTENTS and intent != "human_handoff" and not self.state.town:
            self.ask_town(intent)
            return
        handler = getattr(self, f"intent_{intent}", None)
        if handler is None:
            self.out_of_scope()
            return
        handler()

    def resume_pending(self, town_set: bool) -> None:
        intent = self.state.slot("pending_intent")
        self.state.set_slot("pending", None)
        self.state.set_slot("pending_intent", None)
        if intent:
            self.dispatch(intent, 1.0)
        elif town_set and self.state.town:
            name = self.content.towns[self.state.town].name
            self.say(self._("Ihr Ort ist jetzt {town}.").format(town=name), self.menu_buttons())

    def ask_town(self, intent: str | None) -> None:
        self.state.set_slot("pending", "town")
        self.state.set_slot("pending_intent", intent)
        buttons = [
            Button(t.name, f"town:{t.id}") for t in sorted(self.content.towns.values(), key=lambda t: t.name)
        ]
        self.say(self._("In welchem Ort wohnen Sie? Bitte wählen Sie oder schreiben Sie den Namen."), buttons)

    def greet(self) -> None:
        self.turn.intent = self.turn.intent or "greet"
        self.say(
            self._(
                "Hallo! Ich bin Lotse, der digitale Wegweiser für den {region}. Ich beantworte Fragen zum Asylverfahren, zu Aufenthaltspapieren, Kita, Sport, Beratung und Deutschkursen. Wählen Sie ein Thema oder schreiben Sie Ihre Frage."
            ).format(region=self.content.region.name),
            self.menu_buttons(),
        )

    def menu(self) -> None:
        self.turn.intent = self.turn.intent or "bot_capabilities"
        self.say(self._("Wobei kann ich helfen? Wählen Sie ein Thema:"), self.menu_buttons())

    def language_menu(self) -> None:
        self.say(self._("Bitte wählen Sie Ihre Sprache:"), self.language_buttons())

    def language_buttons(self) -> list[Button]:
        return [Button(lang.native_name, f"lang:{code}") for code, lang in LANGUAGES.items()]

    def ask_language(self) -> None:
        """The language question in every language, for a user whose language is not known yet."""
        question = "Bitte wählen Sie Ihre Sprache:"
        lines = [Translator(self.catalogs, code)._(question) for code in LANGUAGES]
        self.turn.messages.append(Outbound("\n".join(dict.fromkeys(lines)), tuple(self.language_buttons())))

    intent_greet = greet

    def intent_goodbye(self) -> None:
        self.say(self._("Auf Wiedersehen! Sie können mir jederzeit wieder schreiben."))

    def intent_thanks(self) -> None:
        self.say(self._("Gern geschehen! Kann ich noch bei etwas anderem helfen?"), self.menu_buttons())

    def intent_affirm(self) -> None:
        self.say(self._("Gut. Wobei kann ich Ihnen helfen?"), self.menu_buttons())

    def intent_deny(self) -> None:
        self.say(self._("In Ordnung. Wobei kann ich Ihnen sonst helfen?"), self.menu_buttons())

    def intent_bot_capabilities(self) -> None:
        self.say(
            self._(
                "Ich bin ein automatischer Assistent. Ich antworte nur mit geprüften Informationen des Landkreises zu: Asylverfahren, Aufenthaltspapiere, Kita, Sport und Schwimmen, Beratung und Sprechzeiten, Deutschkurse. Bei schwierigen Fragen verbinde ich Sie mit einer Person."
            ),
            self.menu_buttons(),
        )

    def intent_change_language(self) -> None:
        requested = self.state.slot("requested_language")
        self.state.set_slot("requested_language", None)
        if requested:
            self.button_language(requested)
        else:
            self.language_menu()

    def out_of_scope(self) -> None:
        self.turn.intent = "out_of_scope"
        self.say(
            self._(
                "Dazu habe ich leider keine geprüften Informationen. Ich kann Ihnen bei diesen Themen helfen:"
            ),
            self.menu_buttons(),
        )

    intent_out_of_scope = out_of_scope

    # asylum ------------------------------------------------------------
    def step_buttons(self, current: str | None) -> list[Button]:
        buttons = []
        steps = self.content.steps
        if current in steps:
            index = steps.index(current)
            if index + 1 < len(steps):
                nxt = self.content.topic(steps[index + 1])
                buttons.append(
                    Button(self._("Weiter: {step}").format(step=self.r.title(nxt)), f"topic:{nxt.key}")
                )
            buttons.append(Button(self._("Alle Schritte"), "intent:asylum_procedure"))
        else:
            buttons = [Button(self.r.title(self.content.topic(k)), f"topic:{k}") for k in steps]
        return buttons

    def asylum_step(self, key: str) -> None:
        topic = self.content.topic(key)
        buttons = self.step_buttons(key)
        if topic.handover:
            buttons.insert(0, Button(self._("Mit einer Person sprechen"), "handover:offer"))
            self.turn.handover = True
            self.state.set_slot("handover_reason", "deadline")
        steps = self.content.steps
        position = self._("Schritt {n} von {total}").format(n=steps.index(key) + 1, total=len(steps))
        self.say(f"{position}: {self.r.topic(key)}", buttons)
        self.state.set_slot("asylum_step", key)
        self.answered(key)

    def intent_asylum_procedure(self) -> None:
        self.say(self.r.topic("asylum.procedure"))
        self.say(
            self._("Wo sind Sie gerade im Verfahren? Wählen Sie einen Schritt:"), self.step_buttons(None)
        )
        self.answered("asylum.procedure")

    def _asylum_topic(self, key: str, step: str) -> None:
        self.say(self.r.topic(key), self.step_buttons(step))
        self.state.set_slot("asylum_step", step)
        self.answered(key)

    def intent_asylum_interview(self) -> None:
        self._asylum_topic("asylum.interview", "asylum.step.hearing")

    def intent_asylum_decision(self) -> None:
        self._asylum_topic("asylum.decision", "asylum.step.decision")

    def intent_asylum_rejected(self) -> None:
        self.state.set_slot("handover_reason", "deadline")
        self.turn.handover = True
        self.say(
            self.r.topic("asylum.rejected"),
            [
                Button(self._("Mit einer Person sprechen"), "handover:offer"),
                *self.step_buttons("asylum.step.rejection"),
            ],
        )
        self.state.set_slot("asylum_step", "asylum.step.rejection")
        self.answered("asylum.rejected")

    def intent_residence_status(self) -> None:
        keys = ("residence.gestattung", "residence.duldung", "residence.erlaubnis")
        buttons = [Button(self.r.title(self.content.topic(k)), f"topic:{k}") for k in keys]
        self.say(self.r.topic("residence.status"), buttons)
        self.answered("residence.status")

    # kita ----------------------------------------------------------------
    def intent_kita_place(self) -> None:
        self.kita_place(intro=True)

    def kita_place(self, intro: bool = False) -> None:
        self.turn.intent = self.turn.intent or "kita_place"
        group = self.state.slot("age_group")
        status = self.state.slot("kita_status")
        if intro and not (group and status):
            self.say(self.r.topic("kita.place"))
        if not group:
            self.state.set_slot("pending", "age")
            options = [
                ("under1", N_("unter 1 Jahr")),
                ("u3", N_("1 bis 2 Jahre")),
                ("kindergarten", N_("3 bis 6 Jahre")),
                ("school", N_("Schulkind")),
            ]
            self.say(
                self._("Wie alt ist Ihr Kind?"),
                [Button(self._(label), f"age:{key}") for key, label in options],
            )
            self.answered("kita.place", "kita_place")
            return
        if not status and group != "school":
            self.state.set_slot("pending", "status")
            self.say(
                self._("Wo wohnt Ihre Familie gerade?"),
                [
                    Button(self._("In der Erstaufnahme (LEA/EA)"), "status:reception"),
                    Button(self._("In einem Ort im Landkreis"), "status:municipality"),
                ],
            )
            self.answered("kita.place", "kita_place")
            return
        self.state.set_slot("pending", None)
        age_key = AGE_GROUPS[group]
        self.say(self.r.topic(age_key))
        if group != "school":
            status_key = f"kita.status.{status}"
            self.say(self.r.text(self.content.topic(status_key)))
        if status == "municipality" and group != "school":
            self.kita_registration()
        self.answered(age_key, "kita_place")

    def kita_registration(self) -> None:
        if not self.state.town:
            self.say(
                self._("Für die Anmeldestelle Ihres Ortes: Wo wohnen Sie?"),
                [Button(self._("Ort wählen"), "town:change")],
            )
            return
        places = [
            p
            for p in self.content.places_for("kita_registration", self.state.town)
            if p.town == self.state.town
        ]
        places = places or self.content.places_for("kita_registration", self.state.town)[:2]
        if places:
            town = self.content.towns[self.state.town].name
            body = "\n\n".join(self.r.place(p, self.now) for p in places)
            self.say(
                self._("Anmeldung in {town}:").format(town=town) + "\n\n" + body,
                [self.town_change_button(), self.button_for("kita_application")],
            )

    def intent_kita_application(self) -> None:
        self.say(self.r.topic("kita.application"))
        self.kita_registration()
        self.answered("kita.application")

    # sports --------------------------------------------------------------
    def intent_sports_offers(self) -> None:
        self.offers(sport=self.state.slot("sport"), swimming=False)

    def intent_swimming(self) -> None:
        self.offers(sport="swimming", swimming=True)

    def offers(self, sport: str | None, swimming: bool) -> None:
        town_id = self.state.town
        assert town_id is not None
        town = self.content.towns[town_id].name
        all_sports = [p for p in self.content.places if p.kind == "sports"]
        if swimming:
            pool = [p for p in all_sports if p.sport == "swimming"]
        else:
            pool = [p for p in all_sports if p.sport != "swimming" and (sport is None or p.sport == sport)]
        group = self.state.slot("target_group")
        if group:
            suitable = [
                p
                for p in pool
                if group in p.target_group or (group == "girls" and "children" in p.target_group)
            ]
            pool = suitable or pool
        local = [p for p in pool if p.serves(town_id)]
        intro_key = "swimming.courses" if swimming else "sports.offers"
        self.say(self.r.text(self.content.topic(intro_key)))
        if local:
            heading = self._("Angebote in {town}:").format(town=town)
            shown = local
        else:
            self.say(self.r.text(self.content.topic("sports.none")))
            heading = self._("In {town} habe ich dazu nichts gefunden. Angebote in der Nähe:").format(
                town=town
            )
            shown = pool
        body = "\n\n".join(self.r.place(p, self.now, with_status=False) for p in shown[:6])
        if body:
            self.say(f"{heading}\n\n{body}")
        self.say(
            self.r.text(self.content.topic("sports.but")),
            [self.town_change_button(), self.button_for("swimming" if not swimming else "sports_offers")],
        )
        self.answered(intent_key := ("swimming.courses" if swimming else "sports.offers"))
        self.state.set_slot("last_answer", intent_key)

    # counselling ------------------------------------------------------------
    def intent_counselling_hours(self) -> None:
        self.team_answer("counselling.hours")

    def intent_integration_manager(self) -> None:
        self.team_answer("integration.manager")

    def team_answer(self, key: str) -> None:
        town_id = self.state.town
        assert town_id is not None
        team = self.content.team_for(town_id)
        self.say(self.r.text(self.content.topic(key)))
        if team is None:
            self.say(self._("Für diesen Ort ist kein Team eingetragen. Bitte fragen Sie im Rathaus."))
        else:
            town = self.content.towns[town_id].name
            self.say(
                self._("Für {town} ist zuständig:").format(town=town) + "\n\n" + self.r.team(team, self.now),
                [
                    self.town_change_button(),
                    self.button_for("specialised_counselling"),
                    self.button_for("human_handoff"),
                ],
            )
        self.answered(key)

    def intent_specialised_counselling(self) -> None:
        buttons = [Button(self.r.title(self.content.topic(k)), f"service:{s}") for s, k in SERVICES.items()]
        self.say(self.r.topic("counselling.specialised"), buttons)
        self.answered("counselling.specialised")

    def specialised(self, service: str) -> None:
        key = SERVICES[service]
        topic = self.content.topic(key)
        self.turn.intent = "specialised_counselling"
        buttons: list[Button] = []
        if topic.handover:
            buttons.append(Button(self._("Mit einer Person sprechen"), "handover:offer"))
            self.turn.handover = True
        self.say(self.r.topic(key))
        places = [p for p in self.content.places if p.kind == "counselling" and service in p.services]
        if self.state.town:
            places = [p for p in places if p.serves(self.state.town)] or places
        if places:
            self.say("\n\n".join(self.r.place(p, self.now) for p in places[:4]), buttons)
        elif buttons:
            self.say(self._("Möchten Sie mit einer Person sprechen?"), buttons)
        self.answered(key)

    # german -----------------------------------------------------------------
    def intent_german_course(self) -> None:
        buttons = [
            Button(
                self.r.title(self.content.topic("german.integrationskurs")), "topic:german.integrationskurs"
            ),
            Button(self.r.title(self.content.topic("german.childcare")), "topic:german.childcare"),
        ]
        self.say(self.r.topic("german.course"), buttons)
        courses = self.content.places_for("german_course", self.state.town) if self.state.town else []
        if courses:
            town = self.content.towns[self.state.town or ""].name
            body = "\n\n".join(self.r.place(p, self.now) for p in courses[:4])
            self.say(
                self._("Angebote für {town}:").format(town=town) + "\n\n" + body, [self.town_change_button()]
            )
        elif not self.state.town:
            self.say(
                self._("Für Kurse in Ihrer Nähe: Wo wohnen Sie?"),
                [Button(self._("Ort wählen"), "town:change")],
            )
        self.answered("german.course")

    # emergency --------------------------------------------------------------
    def emergency(self, hit: SafetyHit | None, parse: Parse, offer_person: bool = True) -> None:
        """Answered first and at once: numbers before anything else, then the offer of a person."""
        self.turn.intent = "emergency"
        self.turn.confidence = 1.0 if hit else parse.confidence
        key = EMERGENCY_TOPICS.get(hit.category, "emergency") if hit else "emergency"
        numbers = "\n".join(
            f"{self.tr.content(f'emergency:{n.id}:label', n.label)}: {self.r.ltr(n.number)}"
            + (f" ({self.tr.content(f'emergency:{n.id}:note', n.note)})" if n.note else "")
            for n in self.content.emergency_numbers
        )
        first = f"{self.r.text(self.content.topic(key))}\n\n{numbers}"
        if self.tr.unreviewed_used:
            first += "\n\n" + self._("(automatische Übersetzung)")
            self.tr.unreviewed_used = False
        self.turn.messages.insert(0, Outbound(first.strip()))
        self.answered(key)
        if not offer_person:
            return
        if self.state.status == "waiting":  # a person is already asked for: make it urgent
            self.queue_handover("emergency")
            return
        self.state.set_slot("handover_reason", "emergency")
        self.turn.handover = True
        self.say(
            self._("Möchten Sie außerdem mit einer Person aus dem Integrationsmanagement sprechen?"),
            [Button(self._("Ja, bitte"), "handover:yes"), Button(self._("Nein, danke"), "handover:no")],
        )
        self.state.set_slot("pending", "handover")

    intent_emergency = lambda self: self.emergency(None, Parse("emergency", 1.0))  # noqa: E731

    # handover ---------------------------------------------------------------
    def intent_human_handoff(self) -> None:
        self.human_handoff("user_request")

    def human_handoff(self, reason: str) -> None:
        """Ask for consent first: nothing is shared with a caseworker without it."""
        self.turn.handover = True
        self.turn.intent = self.turn.intent if self.turn.intent == FALLBACK_INTENT else "human_handoff"
        self.state.set_slot("handover_reason", reason)
        self.state.set_slot("pending", "handover")
        self.say(
            self._(
                "Ich kann Ihre Anfrage an das Integrationsmanagement weitergeben. Eine Mitarbeiterin oder ein Mitarbeiter sieht dann diesen Chat und antwortet Ihnen hier. Sind Sie damit einverstanden?"
            ),
            [Button(self._("Ja, bitte"), "handover:yes"), Button(self._("Nein, danke"), "handover:no")],
        )

    def handover_confirmed(self) -> None:
        reason = self.state.slot("handover_reason") or "user_request"
        self.turn.intent = "affirm"
        self.turn.handover = True
        if not self.state.town:
            self.state.set_slot("pending_intent", None)
            self.ask_town(None)
            self.state.set_slot("pending_intent", "human_handoff_confirmed")
            return
        self.state.set_slot("pending", None)
        self.state.set_slot("handover_reason", None)
        already = self.state.status in {"waiting", "human"}
        team = self.queue_handover(reason)
        if team is None:
            self.say(self._("Ihre Anfrage ist gespeichert. Wir melden uns so bald wie möglich."))
            return
        if already:
            first = self._("Ihre Anfrage liegt schon bei {team}.").format(team=team.name)
        else:
            first = self._("Danke. Ihre Anfrage ist an {team} weitergegeben.").format(team=team.name)
        self.say(first + " " + notices.expected_answer(self.tr, self.r, team, self.now))
        self.answered("handover.requested", "human_handoff")

    def queue_handover(self, reason: str) -> Team | None:
        """Queue (or, when one is open, escalate) the handover to the team of the user's town."""
        team = self.content.team_for(self.state.town) if self.state.town else None
        priority = priority_of(reason)
        due = first_response_due(self.r.calendar, team, self.now, priority)
        self.turn.handover = True
        self.turn.handover_request = HandoverRequest(reason, priority, team.id if team else None, due)
        if self.state.status == "bot":
            self.state.status = "waiting"
        return team

    def button_feedback(self, value: str) -> None:
        """The answer to "did the conversation help?", asked when a caseworker closed the chat."""
        if value not in {"helped", "not_helped"}:
            self.unknown_button()
            return
        self.turn.intent = "feedback"
        self.turn.feedback = value
        if value == "helped":
            self.say(
                self._("Danke für Ihre Rückmeldung! Wobei kann ich Ihnen sonst helfen?"), self.menu_buttons()
            )
        else:
            self.say(
                self._(
                    "Danke für Ihre Rückmeldung. Das tut mir leid. Sie können jederzeit wieder nach einer Person fragen."
                ),
                [self.button_for("human_handoff"), Button(self._("Themen"), "cmd:menu")],
            )

    def intent_human_handoff_confirmed(self) -> None:
        self.handover_confirmed()


def _privacy_request(inbound: Inbound) -> bool:
    """/delete, /mydata and their buttons work even while a caseworker owns the chat."""
    if inbound.payload:
        return inbound.payload.startswith("privacy:")
    name = (inbound.text or "").strip().lower().split(" ")[0].split("@")[0]
    return name in {"/delete", "/löschen", "/mydata", "/meinedaten", "/privacy", "/datenschutz"}


def _urgent(safety: SafetyNet, inbound: Inbound, parse: Parse, state: ConversationState) -> bool:
    """Danger is answered even in a flood: the safety net, a sure emergency, or the help asked for then."""
    if inbound.payload:
        return inbound.payload == "intent:emergency" or (
            inbound.payload == "handover:yes" and state.slot("handover_reason") == "emergency"
        )
    text = inbound.text or ""
    if not has_words(text) or text.startswith("/"):
        return False
    if safety.check(text) is not None:
        return True
    return parse.intent == "emergency" and parse.confidence >= EMERGENCY_THRESHOLD


def _age_group(text: str, expecting: bool) -> str | None:
    """A child's age from free text ('2', 'zwei Jahre' is left to buttons, '8 Monate', '٣')."""
    folded = digits_to_ascii(for_matching(text))
    if not expecting and not _YEARS.search(folded):
        return None
    match = _NUMBER.search(folded)
    if not match:
        return None
    if _MONTHS.search(folded):
        return "under1" if int(match.group(1)) < 12 else "u3"
    years = int(match.group(1))
    if years < 1:
        return "under1"
    if years < 3:
        return "u3"
    if years < 7:
        return "kindergarten"
    return "school" if years < 18 else None
