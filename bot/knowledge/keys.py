"""Topic keys the engine relies on.

The engine looks answers up by these keys; `content/` must define every one of them, so that a
missing answer is caught when content loads rather than when a refugee asks.
"""

from __future__ import annotations

ASYLUM_STEPS: tuple[str, ...] = (
    "asylum.step.arrival",  # arrival, registration, Ankunftsnachweis, initial reception (LEA/EA)
    "asylum.step.application",  # the formal application at the BAMF, Aufenthaltsgestattung
    "asylum.step.hearing",  # the personal hearing (Anhörung)
    "asylum.step.decision",  # the decision letter and the protection types
    "asylum.step.rejection",  # rejection, Klage and its deadlines
    "asylum.step.duldung",  # Duldung after a final rejection, what it means
    "asylum.step.anschlussunterbringung",  # moving from the district's accommodation to a town
)

REQUIRED_TOPICS: tuple[str, ...] = (
    # asylum
    "asylum.procedure",  # overview; the engine adds buttons for the steps
    "asylum.interview",  # the BAMF hearing: date, preparation, interpreter, companion
    "asylum.decision",  # decision letter, recognition, protection types, what follows
    "asylum.rejected",  # negative decision, Klage deadlines (1 or 2 weeks), urgent, offers a person
    *ASYLUM_STEPS,
    # residence papers
    "residence.status",  # overview of the papers
    "residence.gestattung",
    "residence.duldung",
    "residence.erlaubnis",
    # kita
    "kita.place",  # overview; the engine then asks the child's age and where the family lives
    "kita.age.under1",
    "kita.age.u3",  # 1-2 years: Krippe, legal entitlement from the first birthday
    "kita.age.kindergarten",  # 3 years until school
    "kita.age.school",  # school age: school, Hort, Ganztag
    "kita.status.reception",  # family still lives in initial reception (LEA/EA)
    "kita.status.municipality",  # family lives in a town (Anschlussunterbringung / own flat)
    "kita.application",  # how to apply, documents, fees, Jugendamt and Bildung und Teilhabe pay
    # sports
    "sports.offers",  # intro to the list of offers in the town
    "sports.but",  # Bildung und Teilhabe: 15 EUR a month for club fees for children
    "sports.none",  # no matching offer in the town: what else to do
    "swimming.courses",  # intro to swimming courses, incl. women-only courses
    # counselling and Integrationsmanagement
    "counselling.hours",  # intro to office hours of the responsible team and services
    "integration.manager",  # what an Integrationsmanager does; the engine adds the team
    "counselling.specialised",  # overview; buttons to the four kinds
    "counselling.trauma",
    "counselling.pregnancy_family",
    "counselling.migration",
    "counselling.violence",
    # German courses
    "german.course",  # Integrationskurs and other courses, overview
    "german.integrationskurs",  # entitlement/obligation, costs, registration, Berechtigungsschein
    "german.childcare",  # childcare during courses
    # emergency
    "emergency",  # acute danger: the engine adds the emergency numbers from region.yml
    "emergency.suicide",  # suicidal thoughts: TelefonSeelsorge, 112
    "emergency.violence",  # violence at home or threat: 110, Hilfetelefon 116 016
    "emergency.medical",  # medical: 112, 116 117
    # privacy
    "privacy.short",  # two or three sentences shown on first contact
    "privacy.full",  # full notice on request
)
