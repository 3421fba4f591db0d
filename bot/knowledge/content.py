"""Loads `content/`, validates it, and answers the questions the engine asks of it.

Everything is checked at load time (schema, references, required topics) and all problems are
reported together with file and line, so that a broken edit never reaches a refugee half-loaded.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.knowledge.emergency import REQUIRED_NUMBERS, numbers_in
from bot.knowledge.errors import ContentError, ContentErrors
from bot.knowledge.hours import Calendar
from bot.knowledge.keys import ASYLUM_STEPS, REQUIRED_TOPICS
from bot.knowledge.schema import (
    CannedReply,
    EmergencyNumber,
    MessageTemplate,
    Place,
    Region,
    Team,
    Topic,
    Town,
)
from bot.knowledge.yamlfile import LineDict, load_yaml

if TYPE_CHECKING:  # content does not depend on the catalogs; only the caller brings a translator
    from bot.i18n.catalogs import Translator

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class SourceString:
    """A translatable German string and where it stands, for the gettext catalogs."""

    context: str
    text: str
    path: str
    line: int


@dataclass(frozen=True)
class Origin:
    """Where an item stands in `content/`, so that later checks can name the line of a field."""

    path: str
    line: int
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


@dataclass(frozen=True)
class CannedText:
    """A canned reply as the console offers it for one chat.

    `language` is the language `title` and `text` are really in: the user's, or German when the
    catalog has no current translation, so that the console never sends German unnoticed.
    `reviewed` is false when a translation no native speaker has checked was used.
    """

    id: str
    title: str
    text: str
    language: str
    reviewed: bool


@dataclass
class Content:
    """The whole curated content of one district, validated."""

    root: Path
    region: Region
    emergency_numbers: list[EmergencyNumber]
    towns: dict[str, Town]
    teams: dict[str, Team]
    places: list[Place]
    topics: dict[str, Topic]
    steps: list[str]
    safety: dict[str, dict[str, list[str]]]
    canned: dict[str, CannedReply] = field(default_factory=dict)
    templates: dict[str, MessageTemplate] = field(default_factory=dict)  # WhatsApp's, by purpose
    strings: list[SourceString] = field(default_factory=list)
    origins: dict[str, Origin] = field(default_factory=dict)  # "<kind>:<id>" -> where it is written
    _town_index: dict[str, str] = field(default_factory=dict)

    @property
    def calendar(self) -> Calendar:
        return Calendar(self.region.timezone, self.region.holiday_subdivision)

    def topic(self, key: str) -> Topic:
        return self.topics[key]

    def canned_reply(self, reply_id: str, tr: Translator) -> CannedText:
        """A canned reply in the translator's language, for the caseworker to check and send.

        Caseworkers write German and cannot judge the translation they send, so the result says
        which language it is really in and whether the translation was reviewed, instead of falling
        back silently. Unreviewed use is also recorded on `tr`, as `Translator.content` does for
        topics, so the sent message can carry the usual "(automatic translation)" marker.
        """
        reply = self.canned[reply_id]
        title_entry = tr.catalogs.lookup(tr.language, reply.title, f"canned:{reply.id}:title")
        text_entry = tr.catalogs.lookup(tr.language, reply.text, f"canned:{reply.id}:text")
        if text_entry is None:  # German asked for, or no current translation: the German source
            return CannedText(reply.id, reply.title, reply.text, "de", reviewed=True)
        reviewed = text_entry.reviewed and (title_entry is None or title_entry.reviewed)
        if not reviewed:
            tr.unreviewed_used = True
        title = title_entry.text if title_entry else reply.title
        return CannedText(reply.id, title, text_entry.text.strip(), tr.language, reviewed)

    def topic_for_intent(self, intent: str) -> Topic | None:
        for topic in self.topics.values():
            if topic.intent == intent:
                return topic
        return None

    def town_in_text(self, text: str) -> Town | None:
        """A town named inside a longer message; exact spellings only, so no false alarms."""
        return self._town_in_folded(fold(text))

    def _town_in_folded(self, key: str) -> Town | None:
        padded = f" {key} "
        for alias, town_id in self._town_index.items():
            if len(alias) >= 4 and f" {alias} " in padded:
                return self.towns[town_id]
        for word in key.split():
            for prefix in _ATTACHED_PREFIXES:
                if word.startswith(prefix) and word[len(prefix) :] in self._town_index:
                    return self.towns[self._town_index[word[len(prefix) :]]]
        return None

    def team_for(self, town_id: str) -> Team | None:
        for team in self.teams.values():
            if town_id in team.towns:
                return team
        return None

    def places_for(self, kind: str, town_id: str | None) -> list[Place]:
        return [p for p in self.places if p.kind == kind and (town_id is None or p.serves(town_id))]

    def town_names(self) -> list[str]:
        """Every spelling of every town, for the NLU lookup table."""
        names: list[str] = []
        for town in self.towns.values():
            names.append(town.name)
            names.extend(town.aliases)
        return sorted(set(names))

    def find_town(self, text: str) -> Town | None:
        """The town a user means when the whole message names one: tolerant of typos too."""
        key = fold(text)
        if not key:
            return None
        if key in self._town_index:
            return self.towns[self._town_index[key]]
        mentioned = self._town_in_folded(key)
        if mentioned is not None:
            return mentioned
        close = difflib.get_close_matches(key, list(self._town_index), n=1, cutoff=0.82)
        if close:
            return self.towns[self._town_index[close[0]]]
        return None


# Arabic and Persian attach "in", "to", "and" to the next word: برويتلنغن is "in Reutlingen".
_ATTACHED_PREFIXES: tuple[str, ...] = ("وب", "بال", "ب", "ل", "و", "ف")


def fold(text: str) -> str:
    """Lowercase, without diacritics and punctuation, for forgiving comparisons."""
    text = text.replace("ß", "ss")
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(
        ch if ch.isalnum() else " " for ch in decomposed if not unicodedata.combining(ch) or ch in "\u0306"
    )
    return " ".join(unicodedata.normalize("NFC", kept).split())


def _line_for(raw: Any, loc: tuple[Any, ...], fallback: int, message: str = "") -> int:
    """Follow a pydantic error location into the line-aware YAML (down to a key the message names)."""
    line = fallback
    node = raw
    for part in loc:
        if isinstance(node, LineDict):
            key = "from" if part == "from_" else str(part)
            line = node.line_of(key)
            node = node.get(key)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            if isinstance(node, LineDict):
                line = node.line
        else:
            break
    if isinstance(node, LineDict):
        for key in node:
            if f"'{key}'" in message or message.startswith(f"{key}:"):
                return node.line_of(key)
    return line


class _Loader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.errors: list[ContentError] = []
        self.strings: list[SourceString] = []
        self.origins: dict[str, Origin] = {}

    def remember(self, key: str, raw: LineDict, path: Path) -> None:
        self.origins.setdefault(key, Origin(self.rel(path), raw.line, dict(raw.key_lines)))

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root.parent))
        except ValueError:
            return str(path)

    def file(self, path: Path, top: str, required: bool = True) -> tuple[list[Any], int]:
        if not path.exists():
            if required:
                self.errors.append(ContentError(self.rel(path), None, "file is missing"))
            return [], 0
        try:
            data = load_yaml(path)
        except ContentError as exc:
            self.errors.append(ContentError(self.rel(path), exc.line, exc.detail))
            return [], 0
        if not isinstance(data, LineDict) or top not in data:
            self.errors.append(ContentError(self.rel(path), 1, f"expected a top-level key '{top}:'"))
            return [], 0
        items = data[top]
        if isinstance(items, LineDict):
            return [items], data.line_of(top)
        if not isinstance(items, list):
            self.errors.append(ContentError(self.rel(path), data.line_of(top), f"'{top}' must be a list"))
            return [], 0
        return items, data.line_of(top)

    def model(self, cls: type[M], raw: Any, path: Path, fallback_line: int) -> M | None:
        if not isinstance(raw, LineDict):
            self.errors.append(ContentError(self.rel(path), fallback_line, "expected a mapping (key: value)"))
            return None
        try:
            return cls.parse_obj(raw)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                where = ".".join(str(p) for p in loc if p != "__root__")
                message = err["msg"]
                if err["type"] == "value_error.extra":
                    message = "unknown field (check the spelling)"
                self.errors.append(
                    ContentError(
                        self.rel(path), _line_for(raw, loc, raw.line, message), f"{where}: {message}"
                    )
                )
            return None

    def translatable(self, kind: str, item_id: str, name: str, text: str, raw: LineDict, path: Path) -> None:
        if text.strip():
            self.strings.append(
                SourceString(f"{kind}:{item_id}:{name}", text, self.rel(path), raw.line_of(name))
            )

    def files(self, folder: Path) -> Iterator[Path]:
        if folder.is_dir():
            yield from sorted(folder.glob("*.yml"))


def load_content(root: Path) -> Content:
    """Load and validate a content folder; raise ContentErrors listing every problem."""
    attempt = read_content(root)
    if attempt.content is None:
        raise ContentErrors(attempt.errors)
    return attempt.content


@dataclass(frozen=True)
class Attempt:
    """A content folder as far as it could be read: the content, or the errors and what was readable.

    The translatable strings are collected even from content that does not load, so that a check
    reports a stale translation in the same round as the typo that stops loading.
    """

    content: Content | None
    errors: list[ContentError]
    strings: list[SourceString]


def read_content(root: Path) -> Attempt:
    ld = _Loader(root)

    # region and emergency numbers
    region_path = root / "region.yml"
    region_items, _ = ld.file(region_path, "region")
    region = ld.model(Region, region_items[0], region_path, 1) if region_items else None
    if region is not None:
        ld.remember("region", region_items[0], region_path)
    numbers: list[EmergencyNumber] = []
    raw_numbers, numbers_line = ld.file(region_path, "emergency_numbers") if region_items else ([], 0)
    for raw in raw_numbers:
        number = ld.model(EmergencyNumber, raw, region_path, 1)
        if number:
            numbers.append(number)
            ld.remember(f"emergency:{number.id}", raw, region_path)
            ld.translatable("emergency", number.id, "label", number.label, raw, region_path)
            ld.translatable("emergency", number.id, "note", number.note, raw, region_path)
    if region_items:
        given = set().union(*(numbers_in(n.number) for n in numbers))
        for required in REQUIRED_NUMBERS:
            if required not in given:
                ld.errors.append(
                    ContentError(
                        ld.rel(region_path),
                        numbers_line or 1,
                        f"the emergency number {required} is missing; it must be listed, exactly so",
                    )
                )

    towns: dict[str, Town] = {}
    towns_path = root / "towns.yml"
    for raw in ld.file(towns_path, "towns")[0]:
        town = ld.model(Town, raw, towns_path, 1)
        if town:
            if town.id in towns:
                ld.errors.append(ContentError(ld.rel(towns_path), raw.line, f"town id {town.id!r} twice"))
            towns[town.id] = town
            ld.remember(f"town:{town.id}", raw, towns_path)

    teams: dict[str, Team] = {}
    teams_path = root / "teams.yml"
    served: dict[str, str] = {}
    for raw in ld.file(teams_path, "teams")[0]:
        team = ld.model(Team, raw, teams_path, 1)
        if not team:
            continue
        teams[team.id] = team
        ld.remember(f"team:{team.id}", raw, teams_path)
        ld.translatable("team", team.id, "description", team.description, raw, teams_path)
        _closure_notes(ld, "team", team.id, team, raw, teams_path)
        for town_id in team.towns:
            if town_id not in towns:
                ld.errors.append(
                    ContentError(ld.rel(teams_path), raw.line_of("towns"), f"unknown town {town_id!r}")
                )
            elif town_id in served:
                ld.errors.append(
                    ContentError(
                        ld.rel(teams_path),
                        raw.line_of("towns"),
                        f"town {town_id!r} is already served by team {served[town_id]!r}",
                    )
                )
            else:
                served[town_id] = team.id
    for town_id in towns:
        if town_id not in served and teams:
            ld.errors.append(
                ContentError(
                    ld.rel(towns_path),
                    ld.origins[f"town:{town_id}"].line,
                    f"town {town_id!r} has no responsible team; add it to the towns: of one team in "
                    "content/teams.yml, so that its people can be handed to a caseworker",
                )
            )

    places: list[Place] = []
    seen_places: set[str] = set()
    for path in ld.files(root / "places"):
        for raw in ld.file(path, "places")[0]:
            place = ld.model(Place, raw, path, 1)
            if not place:
                continue
            if place.id in seen_places:
                ld.errors.append(ContentError(ld.rel(path), raw.line, f"place id {place.id!r} twice"))
            seen_places.add(place.id)
            ld.remember(f"place:{place.id}", raw, path)
            refs = [place.town] + (place.serves_towns if isinstance(place.serves_towns, list) else [])
            for town_id in refs:
                if town_id not in towns:
                    ld.errors.append(
                        ContentError(ld.rel(path), raw.line_of("town"), f"unknown town {town_id!r}")
                    )
            if place.kind == "sports" and not place.sport:
                ld.errors.append(ContentError(ld.rel(path), raw.line, "a sports offer needs 'sport:'"))
            places.append(place)
            ld.translatable("place", place.id, "description", place.description, raw, path)
            ld.translatable("place", place.id, "cost", place.cost, raw, path)
            _closure_notes(ld, "place", place.id, place, raw, path)

    topics: dict[str, Topic] = {}
    steps: list[str] = []
    steps_line: int | None = None  # where `steps:` stands, for an error about their order
    for path in ld.files(root / "topics"):
        top = "steps" if path.stem == "asylum_steps" else "topics"
        items, line = ld.file(path, top)
        if top == "steps":
            steps_line = line or None
        for raw in items:
            topic = ld.model(Topic, raw, path, 1)
            if not topic:
                continue
            if topic.key in topics:
                ld.errors.append(ContentError(ld.rel(path), raw.line, f"topic key {topic.key!r} twice"))
            topics[topic.key] = topic
            ld.remember(f"topic:{topic.key}", raw, path)
            if top == "steps":
                steps.append(topic.key)
            ld.translatable("topic", topic.key, "title", topic.title, raw, path)
            ld.translatable("topic", topic.key, "text", topic.text, raw, path)
    for key in REQUIRED_TOPICS:
        if key not in topics:
            ld.errors.append(
                ContentError(ld.rel(root / "topics"), None, f"required topic {key!r} is missing")
            )
    if steps and tuple(steps) != ASYLUM_STEPS:
        ld.errors.append(
            ContentError(
                ld.rel(root / "topics" / "asylum_steps.yml"),
                steps_line,
                f"steps must be, in order: {ASYLUM_STEPS}",
            )
        )

    canned = _load_canned(ld, root / "canned.yml", topics)
    templates = _load_templates(ld, root / "whatsapp.yml")
    safety = _load_safety(ld, root / "safety")

    if ld.errors or region is None:
        if region is None and not ld.errors:
            ld.errors.append(ContentError(ld.rel(region_path), None, "region is missing"))
        return Attempt(None, ld.errors, ld.strings)
    content = Content(
        root=root,
        region=region,
        emergency_numbers=numbers,
        towns=towns,
        teams=teams,
        places=places,
        topics=topics,
        steps=steps,
        safety=safety,
        canned=canned,
        templates=templates,
        strings=ld.strings,
        origins=ld.origins,
    )
    content._town_index = _town_index(towns.values())
    return Attempt(content, [], ld.strings)


def _closure_notes(
    ld: _Loader, kind: str, item_id: str, item: Team | Place, raw: LineDict, path: Path
) -> None:
    for index, closure in enumerate(item.closures):
        ld.translatable(kind, item_id, f"closure{index}", closure.note, raw, path)


def _load_canned(ld: _Loader, path: Path, topics: dict[str, Topic]) -> dict[str, CannedReply]:
    """The caseworkers' canned replies, in file order (the order the console offers them)."""
    canned: dict[str, CannedReply] = {}
    for raw in ld.file(path, "canned")[0]:
        reply = ld.model(CannedReply, raw, path, 1)
        if not reply:
            continue
        if reply.id in canned:
            ld.errors.append(
                ContentError(ld.rel(path), raw.line_of("id"), f"canned reply id {reply.id!r} twice")
            )
            continue
        for key in reply.topics:
            if key not in topics:
                ld.errors.append(ContentError(ld.rel(path), raw.line_of("topics"), f"unknown topic {key!r}"))
        canned[reply.id] = reply
        ld.remember(f"canned:{reply.id}", raw, path)
        ld.translatable("canned", reply.id, "title", reply.title, raw, path)
        ld.translatable("canned", reply.id, "text", reply.text, raw, path)
    return canned


def _load_templates(ld: _Loader, path: Path) -> dict[str, MessageTemplate]:
    """WhatsApp's approved templates; a district without WhatsApp may leave the file out."""
    templates: dict[str, MessageTemplate] = {}
    for raw in ld.file(path, "templates", required=False)[0]:
        template = ld.model(MessageTemplate, raw, path, 1)
        if not template:
            continue
        if template.purpose in templates:
            ld.errors.append(
                ContentError(ld.rel(path), raw.line_of("purpose"), f"two templates for {template.purpose!r}")
            )
            continue
        templates[template.purpose] = template
        ld.remember(f"template:{template.name}", raw, path)
        ld.translatable("template", template.name, "text", template.text, raw, path)
    return templates


def _load_safety(ld: _Loader, folder: Path) -> dict[str, dict[str, list[str]]]:
    result: dict[str, dict[str, list[str]]] = {}
    for path in ld.files(folder):
        try:
            data = load_yaml(path)
        except ContentError as exc:
            ld.errors.append(ContentError(ld.rel(path), exc.line, exc.detail))
            continue
        if not isinstance(data, LineDict) or not isinstance(data.get("categories"), dict):
            ld.errors.append(ContentError(ld.rel(path), 1, "expected 'language:' and 'categories:'"))
            continue
        cats: dict[str, list[str]] = {}
        for name, words in data["categories"].items():
            if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
                ld.errors.append(
                    ContentError(
                        ld.rel(path), data["categories"].line_of(name), f"{name}: expected a list of phrases"
                    )
                )
                continue
            cats[name] = [w.strip().casefold() for w in words]
        result[str(data.get("language", path.stem))] = cats
    return result


def _town_index(towns: Iterable[Town]) -> dict[str, str]:
    index: dict[str, str] = {}
    for town in towns:
        for name in (town.id, town.name, *town.aliases):
            key = fold(name)
            if key:
                index.setdefault(key, town.id)
    return index
