"""The caseworkers' desk: taking a chat over, replying across languages, handing it back to the bot.

Through the real engine, the real database and the real LibreTranslate client against the fake
LibreTranslate server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from bot.config import Settings
from bot.console.accounts import Accounts, Staff
from bot.engine.engine import Engine
from bot.handover.desk import Desk
from bot.handover.errors import CaseConflict, CaseNotFound, InvalidAction, NotAllowed
from bot.i18n.catalogs import Translator
from bot.storage.tables import audit_log, handovers, outbox
from tests.conftest import Chat, berlin
from tests.fakes.libretranslate import FakeLibreTranslate
from tests.harness import desk_for_tests

TUESDAY_MORNING = berlin(2026, 11, 24, 10, 0)
ASK = "أريد التحدث مع موظف من فضلك"
ASK_DE = "Ich möchte bitte mit einer Mitarbeiterin sprechen"
HELLO_DE = "Guten Tag, ich bin Frau Weber. Wie kann ich Ihnen helfen?"
HELLO_AR = "مرحبًا، أنا السيدة فيبر. كيف يمكنني مساعدتكم؟"


@pytest.fixture(scope="module")
def libre() -> Iterator[FakeLibreTranslate]:
    with FakeLibreTranslate({("ar", "de", ASK): ASK_DE, ("de", "ar", HELLO_DE): HELLO_AR}) as fake:
        yield fake


@pytest.fixture
def desk(engine: Engine, settings: Settings, libre: FakeLibreTranslate) -> Desk:
    libre.heal()
    return desk_for_tests(engine, settings, libre.url, TUESDAY_MORNING)


async def staff(engine: Engine, role: str, teams: tuple[str, ...] = ()) -> Staff:
    accounts = Accounts(engine.store.engine)  # type: ignore[attr-defined]
    name = f"{role}-{uuid.uuid4().hex[:8]}"
    return await accounts.create(name, "ein langes Passwort 1234", role, teams, display_name=f"Frau {name}")


async def arabic_handover(engine: Engine, town: str = "reutlingen") -> tuple[Chat, int]:
    chat = Chat(engine, TUESDAY_MORNING)
    await chat.say(ASK, town=town, language="ar")
    await chat.press("handover:yes")
    async with engine.store.engine.connect() as conn:  # type: ignore[attr-defined]
        case_id = (await conn.execute(sa.select(sa.func.max(handovers.c.id)))).scalar_one()
    return chat, int(case_id)


async def sent_to(engine: Engine, chat: Chat) -> list[str]:
    async with engine.store.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = await conn.execute(
            sa.select(outbox.c.body).where(outbox.c.chat_id == chat.user).order_by(outbox.c.id)
        )
        return [row.body["text"] for row in rows]


async def test_the_whole_handover_from_request_to_feedback(engine: Engine, desk: Desk) -> None:
    chat, case_id = await arabic_handover(engine)
    weber = await staff(engine, "caseworker", ("im-stadt-reutlingen",))
    queue = await desk.queue(weber)
    assert case_id in [c.id for c in queue]
    view = await desk.open(weber, case_id)
    asked = next(line for line in view.lines if line.text == ASK)
    assert asked.german == ASK_DE and asked.german_machine  # German beside the original
    assert view.case.language == "ar" and view.case.town == "reutlingen"

    await desk.claim(weber, case_id)
    assert weber.display_name in (await sent_to(engine, chat))[-1]  # the user learns who answers now
    silent = await chat.say("هل أنتم هناك؟")
    assert len(silent.messages) == 1  # one acknowledgement at most
    again = await chat.say("مرحبا؟")
    assert again.messages == []  # then the bot keeps quiet

    preview = await desk.preview(weber, case_id, HELLO_DE)
    assert preview.translated and preview.machine and preview.text == HELLO_AR
    edited = HELLO_AR.replace("مرحبًا", "أهلًا")
    await desk.reply(weber, case_id, HELLO_DE, edited, machine=True)
    sent = await sent_to(engine, chat)
    assert sent[-1].startswith(edited)  # what the caseworker approved, not the raw translation
    marker = Translator(engine.editions.catalogs, "ar")._("(automatische Übersetzung)")
    assert marker != "(automatische Übersetzung)" and sent[-1].endswith(marker)  # marked as machine-made

    await desk.close(weber, case_id)
    back = await sent_to(engine, chat)
    assert "Lotse" in back[-1]
    answer = await chat.press("feedback:helped")
    assert answer.messages, "the bot answers again"
    async with engine.store.engine.connect() as conn:  # type: ignore[attr-defined]
        row = (await conn.execute(sa.select(handovers).where(handovers.c.id == case_id))).one()
        actions = [
            r.action
            for r in await conn.execute(
                sa.select(audit_log.c.action)
                .where(audit_log.c.handover_id == case_id)
                .order_by(audit_log.c.id)
            )
        ]
    assert (row.status, row.feedback) == ("closed", "helped")
    assert row.first_response_at is not None
    assert actions == ["read", "claim", "reply", "close"]
    bot_again = await chat.say("متى مواعيد الاستشارة؟")
    assert bot_again.intent == "counselling_hours"


async def test_caseworkers_see_only_their_own_teams(engine: Engine, desk: Desk) -> None:
    _chat, case_id = await arabic_handover(engine, "metzingen")
    other = await staff(engine, "caseworker", ("im-stadt-reutlingen",))
    lead = await staff(engine, "lead")
    editor = await staff(engine, "editor")
    assert case_id not in [c.id for c in await desk.queue(other)]
    with pytest.raises(CaseNotFound):
        await desk.open(other, case_id)
    with pytest.raises(CaseNotFound):
        await desk.claim(other, case_id)
    with pytest.raises(NotAllowed):
        await desk.queue(editor)
    with pytest.raises(NotAllowed):
        await desk.audit(other)
    assert case_id in [c.id for c in await desk.queue(lead)]


async def test_a_claimed_chat_is_not_taken_by_a_second_colleague(engine: Engine, desk: Desk) -> None:
    _chat, case_id = await arabic_handover(engine)
    first = await staff(engine, "caseworker", ("im-stadt-reutlingen",))
    second = await staff(engine, "caseworker", ("im-stadt-reutlingen",))
    await desk.claim(first, case_id)
    with pytest.raises(CaseConflict):
        await desk.claim(second, case_id)
    with pytest.raises(CaseConflict):
        await desk.reply(second, case_id, "Hallo", "", machine=False)
    await desk.assign(first, case_id, second.id)
    assert (await desk.store.get(case_id)).assignee_id == second.id  # type: ignore[union-attr]


async def test_transfer_moves_the_chat_with_a_note_and_a_new_deadline(engine: Engine, desk: Desk) -> None:
    chat, case_id = await arabic_handover(engine)
    weber = await staff(engine, "caseworker", ("im-stadt-reutlingen",))
    with pytest.raises(InvalidAction):
        await desk.transfer(weber, case_id, "im-kreis-ermstal", "  ")
    await desk.transfer(weber, case_id, "im-kreis-ermstal", "Wohnt inzwischen in Bad Urach")
    case = await desk.store.get(case_id)
    assert case is not None and case.team_id == "im-kreis-ermstal" and case.status == "waiting"
    assert case.due_at > TUESDAY_MORNING
    notes = await desk.store.notes(case_id)
    assert "Bad Urach" in notes[-1].text
    assert "Ermstal" in (await sent_to(engine, chat))[-1]  # the user is told where the request is now
    with pytest.raises(CaseNotFound):
        await desk.open(weber, case_id)  # no longer this caseworker's team


async def test_translation_down_shows_the_original_and_sends_german_with_a_note(
    engine: Engine, desk: Desk, libre: FakeLibreTranslate
) -> None:
    chat, case_id = await arabic_handover(engine)
    weber = await staff(engine, "caseworker", ("im-stadt-reutlingen",))
    libre.down()
    await chat.say("عندي رسالة من المحكمة")
    view = await desk.open(weber, case_id)
    assert view.translation_problem
    assert any(line.text == "عندي رسالة من المحكمة" and line.german is None for line in view.lines)
    preview = await desk.preview(weber, case_id, "Bitte kommen Sie morgen in die Sprechstunde.")
    assert not preview.translated and preview.problem
    await desk.reply(weber, case_id, preview.german, "", machine=False, translated=False)
    last = (await sent_to(engine, chat))[-1]
    assert last.startswith("Bitte kommen Sie morgen in die Sprechstunde.")
    assert len(last) > len(preview.german) + 10  # with the note in Arabic why it is German


async def test_canned_replies_come_from_the_translators_catalog(
    engine: Engine, desk: Desk, libre: FakeLibreTranslate
) -> None:
    _chat, case_id = await arabic_handover(engine)
    weber = await staff(engine, "caseworker", ("im-stadt-reutlingen",))
    before = len(libre.translations())
    preview = await desk.preview(weber, case_id, "", canned_id="closing")
    assert preview.translated and preview.text != preview.german
    assert len(libre.translations()) == before, "no machine translation for a translated canned reply"


async def test_internal_notes_are_never_sent(engine: Engine, desk: Desk) -> None:
    chat, case_id = await arabic_handover(engine)
    weber = await staff(engine, "caseworker", ("im-stadt-reutlingen",))
    before = await sent_to(engine, chat)
    await desk.note(weber, case_id, "Hat einen Termin beim Anwalt am Freitag")
    assert await sent_to(engine, chat) == before
    assert (await desk.store.notes(case_id))[-1].text == "Hat einen Termin beim Anwalt am Freitag"


async def test_two_colleagues_claiming_at_the_same_moment_get_one_owner(engine: Engine, desk: Desk) -> None:
    chat, case_id = await arabic_handover(engine)
    first = await staff(engine, "caseworker", ("im-stadt-reutlingen",))
    second = await staff(engine, "caseworker", ("im-stadt-reutlingen",))
    results = await asyncio.gather(
        desk.claim(first, case_id),
        desk.claim(second, case_id),
        chat.say("هل من أحد؟"),
        return_exceptions=True,
    )
    conflicts = [r for r in results[:2] if isinstance(r, CaseConflict)]
    assert len(conflicts) == 1, results
    assert not isinstance(results[2], BaseException), results[2]
    case = await desk.store.get(case_id)
    assert case is not None and case.status == "active" and case.assignee_id in {first.id, second.id}
    taken = [text for text in await sent_to(engine, chat) if "Frau" in text]
    assert len(taken) == 1, "the user is told once who answers"


async def test_a_closed_case_does_not_show_what_the_user_writes_to_the_bot_afterwards(
    engine: Engine, desk: Desk
) -> None:
    """The user agreed that the team reads the chat for this handover, not their later questions."""
    chat, case_id = await arabic_handover(engine)
    weber = await staff(engine, "caseworker", ("im-stadt-reutlingen",))
    await desk.claim(weber, case_id)
    await desk.reply(weber, case_id, HELLO_DE, HELLO_AR, machine=True)
    before = [line.text for line in (await desk.open(weber, case_id)).lines]
    await desk.close(weber, case_id)
    closing = (await desk.open(weber, case_id)).lines
    assert [line.text for line in closing][: len(before)] == before
    later = "أين أجد دورة لغة ألمانية؟"
    await chat.say(later)
    view = await desk.open(weber, case_id)
    assert [line.id for line in view.lines] == [line.id for line in closing]
    assert later not in [line.text for line in view.lines]
    _case, appended = await desk.new_lines(weber, case_id, closing[-1].id)
    assert appended == []
    assert view.case.unread == 0
