"""The shape of content items, checked when content loads.

pydantic (v1, because Rasa 3.6 pins it) does the type checks; this module adds the rules an editor
can get wrong: time ranges, weekday names, references to towns.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Literal
from zoneinfo import ZoneInfo

import holidays
from pydantic import BaseModel, Extra, Field, validator

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LANGUAGE_CODES: tuple[str, ...] = ("de", "en", "ar", "fa", "uk", "ru", "tr")
SPORTS: tuple[str, ...] = (
    "football", "swimming", "basketball", "volleyball", "boxing", "table_tennis",
    "running", "martial_arts", "dance", "cricket", "fitness", "cycling",
)  # fmt: skip
TARGET_GROUPS: tuple[str, ...] = ("all", "women", "girls", "men", "children", "youth", "families")
COUNSELLING_SERVICES: tuple[str, ...] = (
    "migration", "trauma", "pregnancy_family", "violence", "asylum_law", "youth_migration",
)  # fmt: skip

_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
# A number a refugee can dial from any phone: with the area code (0…) or the country code (+…).
_PHONE = re.compile(r"^(\+[1-9]|0)[0-9 \-/()]+$")
_PHONE_MIN_DIGITS = 6
_WEB_ADDRESS = re.compile(r"^https?://[A-Za-z0-9.-]+\.[A-Za-z]{2,}(:[0-9]+)?(/\S*)?$")
_EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


def minutes_of(text: str) -> tuple[int, int]:
    """Start and end of a range like 09:00-12:30, in minutes after midnight (24:00 is 1440)."""
    match = _RANGE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a time range like 09:00-12:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return h1 * 60 + m1, h2 * 60 + m2


def _web_address(value: str | None) -> str | None:
    if value is not None and not _WEB_ADDRESS.match(value.strip()):
        raise ValueError(
            f"{value!r} is not a web address; write it in full, like https://www.example.org/page"
        )
    return value


class _Strict(BaseModel):
    class Config:
        extra = Extra.forbid
        allow_mutation = False


class Closure(_Strict):
    from_: dt.date = Field(alias="from")
    to: dt.date
    note: str = ""

    @validator("to")
    def _ordered(cls, value: dt.date, values: dict[str, object]) -> dt.date:
        start = values.get("from_")
        if isinstance(start, dt.date) and value < start:
            raise ValueError("closure ends before it starts")
        return value


def _check_hours(hours: dict[str, list[str]]) -> dict[str, list[str]]:
    for day, ranges in hours.items():
        if day not in WEEKDAYS:
            raise ValueError(f"unknown weekday {day!r}; use one of {', '.join(WEEKDAYS)}")
        spans = []
        for text in ranges:
            try:
                start, end = minutes_of(text)
            except ValueError as exc:
                raise ValueError(f"{day}: {exc}") from None
            if end <= start:
                raise ValueError(f"{day}: {text!r} ends before it starts")
            spans.append((start, end, text))
        spans.sort()
        for (_, end, before), (start, _, after) in itertools.pairwise(spans):
            if start < end:
                raise ValueError(f"{day}: {after!r} overlaps {before!r}; merge them or correct one")
    return hours


class Sourced(_Strict):
    """Every item says where its information comes from and when it was last checked."""

    source: str = Field(min_length=3)
    source_url: str | None = None
    last_checked: dt.date
    example: bool = False

    _source_url_ok = validator("source_url", allow_reuse=True)(_web_address)


class Scheduled(Sourced):
    hours: dict[str, list[str]] = Field(default_factory=dict)
    by_appointment: bool | Literal["only"] = False
    open_on_holidays: bool = False
    closures: list[Closure] = Field(default_factory=list)

    _hours_ok = validator("hours", allow_reuse=True)(_check_hours)


class Contact(Scheduled):
    address: str | None = None
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    languages: list[str] = Field(default_factory=list)

    _website_ok = validator("website", allow_reuse=True)(_web_address)

    @validator("phone")
    def _phone(cls, value: str | None) -> str | None:
        digits = sum(ch.isdigit() for ch in value or "")
        if value is not None and (not _PHONE.match(value.strip()) or digits < _PHONE_MIN_DIGITS):
            raise ValueError(
                f"{value!r} is not a phone number to dial; write it with the area code, like "
                "07121 303-0, or the country code, like +49 7121 303-0"
            )
        return value

    @validator("email")
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value.strip()):
            raise ValueError(f"{value!r} is not an e-mail address like beratung@example.org")
        return value

    @validator("languages", each_item=True)
    def _language(cls, value: str) -> str:
        if len(value) != 2 or not value.isalpha() or not value.islower():
            raise ValueError(f"{value!r} is not a two-letter language code such as de or ar")
        return value


class EmergencyNumber(_Strict):
    id: str
    number: str = Field(regex=r"^[0-9][0-9 ]+$")
    label: str
    note: str = ""
    source: str | None = None
    last_checked: dt.date | None = None


class Region(Sourced):
    id: str
    name: str
    timezone: str = "Europe/Berlin"
    holiday_subdivision: str = "BW"

    # Checked here because every opening-hours answer uses them: a typo would otherwise load and
    # then fail on the first question about office hours.
    @validator("timezone")
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"{value!r} is not a time zone like Europe/Berlin") from None
        return value

    @validator("holiday_subdivision")
    def _subdivision(cls, value: str) -> str:
        if value not in holidays.list_supported_countries()["DE"]:
            raise ValueError(f"{value!r} is not a German state code like BW or BY")
        return value


class Town(_Strict):
    id: str = Field(regex=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    aliases: list[str] = Field(default_factory=list)
    source: str | None = None
    last_checked: dt.date | None = None


class Team(Contact):
    id: str
    name: str
    operator: Literal["municipality", "district"]
    towns: list[str]
    description: str = ""

    @validator("towns")
    def _serves_a_town(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(
                "the team serves no town; list the ids of its towns from content/towns.yml under towns:, "
                "or remove the team"
            )
        return value


class Place(Contact):
    id: str
    kind: Literal["counselling", "kita_registration", "sports", "german_course"]
    name: str
    description: str = ""
    town: str
    serves_towns: Literal["all"] | list[str] | None = None
    services: list[str] = Field(default_factory=list)
    sport: str | None = None
    target_group: list[str] = Field(default_factory=lambda: ["all"])
    age_min: int | None = Field(default=None, ge=0, le=120)
    age_max: int | None = Field(default=None, ge=0, le=120)
    cost: str = ""

    @validator("sport")
    def _sport(cls, value: str | None) -> str | None:
        if value is not None and value not in SPORTS:
            raise ValueError(f"unknown sport {value!r}; use one of {', '.join(SPORTS)}")
        return value

    @validator("target_group", each_item=True)
    def _target(cls, value: str) -> str:
        if value not in TARGET_GROUPS:
            raise ValueError(f"unknown target group {value!r}; use one of {', '.join(TARGET_GROUPS)}")
        return value

    @validator("services", each_item=True)
    def _service(cls, value: str) -> str:
        if value not in COUNSELLING_SERVICES:
            raise ValueError(f"unknown service {value!r}; use one of {', '.join(COUNSELLING_SERVICES)}")
        return value

    def serves(self, town_id: str) -> bool:
        if self.serves_towns == "all":
            return True
        if isinstance(self.serves_towns, list):
            return town_id in self.serves_towns or town_id == self.town
        return town_id == self.town


class Topic(Sourced):
    key: str = Field(regex=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
    intent: str | None = None
    title: str = Field(min_length=1, max_length=40)
    text: str = Field(min_length=1)
    handover: bool = False


# Characters that only make sense as a gap to fill in ("{name}", "[Datum]", "<Adresse>").
_PLACEHOLDER = re.compile(r"[{}\[\]<>]|\.\.\.|…|\bXX+\b")


class CannedReply(Sourced):
    """A ready-made message (Textbaustein) a caseworker can send from the console.

    It is sent as it stands, already translated, so it may hold no gaps for the caseworker to
    fill: a gap left open would reach a refugee in a language the caseworker cannot read.
    """

    id: str = Field(regex=r"^[a-z0-9]+([-_][a-z0-9]+)*$")
    title: str = Field(min_length=1, max_length=40)
    text: str = Field(min_length=1)
    topics: list[str] = Field(default_factory=list)

    @validator("title", "text")
    def _no_gaps(cls, value: str) -> str:
        # A chat message has no trailing newline; stripping here keeps the catalogs' msgid clean too.
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        gap = _PLACEHOLDER.search(value)
        if gap:
            raise ValueError(f"{gap.group()!r} looks like a placeholder; canned replies are sent as they are")
        return value


class MessageTemplate(_Strict):
    """A WhatsApp message template as the district had it approved in Meta's WhatsApp Manager.

    Outside WhatsApp's 24-hour window nothing but an approved template reaches a user, so a
    caseworker's late reply goes out inside one: `text` is the approved German wording with `{{1}}`
    where the reply goes, and `languages` maps Lotse's language codes to the codes the template was
    approved in. A language missing here has no approved template, and the console says so instead
    of sending.
    """

    purpose: Literal["caseworker_reply"]
    name: str = Field(regex=r"^[a-z0-9_]{1,512}$")
    languages: dict[str, str]
    text: str = Field(min_length=1)
    # WhatsApp allows 1024 characters in a template body; the rest is the template's own wording
    max_parameter: int = Field(700, ge=1, le=1000)
    source: str = Field(min_length=3)
    last_checked: dt.date

    @validator("languages")
    def _known_languages(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("name at least one approved language")
        for code, meta_code in value.items():
            if code not in LANGUAGE_CODES:
                raise ValueError(f"unknown language {code!r}; use one of {', '.join(LANGUAGE_CODES)}")
            if not re.match(r"^[a-z]{2,3}(_[A-Z]{2})?$", meta_code):
                raise ValueError(f"{meta_code!r} is not a WhatsApp language code like 'fa' or 'en_US'")
        return value

    @validator("text")
    def _one_gap(cls, value: str) -> str:
        value = value.strip()
        if value.count("{{1}}") != 1 or re.search(r"\{\{[02-9]", value):
            raise ValueError("the text needs exactly one gap {{1}}, where the caseworker's reply goes")
        return value
