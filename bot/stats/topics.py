"""Which topic an inbound message belongs to, from the intent the engine stored with it.

Team leads think in topics ("Kita", "Sport"), not in the NLU's intents, and a chart with 23 intents
is unreadable. The grouping is defined once here; a test checks that every intent of `nlu/` has a
topic, so a new intent cannot silently land in "Sonstiges".
"""

from __future__ import annotations

ASYLUM = "Asyl und Aufenthalt"
KITA = "Kita"
SPORT = "Sport"
COUNSELLING = "Beratung"
GERMAN = "Deutschkurse"
EMERGENCY = "Notfall"
PERSON = "Person gewünscht"
SMALL_TALK = "Gespräch"
NOT_UNDERSTOOD = "Nicht verstanden"
OTHER = "Sonstiges"

# The order of the columns in tables and charts: the questions first, conversation and the rest last.
TOPICS: tuple[str, ...] = (
    ASYLUM, KITA, SPORT, COUNSELLING, GERMAN, EMERGENCY, PERSON, SMALL_TALK, NOT_UNDERSTOOD, OTHER,
)  # fmt: skip

TOPIC_OF_INTENT: dict[str, str] = {
    "asylum_procedure": ASYLUM,
    "asylum_interview": ASYLUM,
    "asylum_decision": ASYLUM,
    "asylum_rejected": ASYLUM,
    "residence_status": ASYLUM,
    "kita_place": KITA,
    "kita_application": KITA,
    "sports_offers": SPORT,
    "swimming": SPORT,
    "counselling_hours": COUNSELLING,
    "integration_manager": COUNSELLING,
    "specialised_counselling": COUNSELLING,
    "german_course": GERMAN,
    "emergency": EMERGENCY,
    "human_handoff": PERSON,
    "greet": SMALL_TALK,
    "goodbye": SMALL_TALK,
    "thanks": SMALL_TALK,
    "affirm": SMALL_TALK,
    "deny": SMALL_TALK,
    "bot_capabilities": SMALL_TALK,
    "change_language": SMALL_TALK,
    "out_of_scope": NOT_UNDERSTOOD,
    "nlu_fallback": NOT_UNDERSTOOD,
    "none": NOT_UNDERSTOOD,
}

# Intents that mean Lotse had no curated answer for the question (the "what is missing" signal).
NOT_UNDERSTOOD_INTENTS = frozenset(i for i, t in TOPIC_OF_INTENT.items() if t == NOT_UNDERSTOOD)


def topic_of(intent: str | None) -> str:
    """The topic of a stored intent; the engine's own ones (feedback, /delete, photos,
    messages to a caseworker, which carry no intent) count as "Sonstiges"."""
    if intent is None:
        return OTHER
    return TOPIC_OF_INTENT.get(intent, OTHER)
