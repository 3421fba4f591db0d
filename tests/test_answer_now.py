"""The web chat's waiting request answers its own message, keeping the pipeline's promises.

`Pipeline.accept(..., answer_now=True)` stores the message already leased and answers it in the
request, without waiting for the inbox worker. These tests run without the worker, so an answer can
only have come from the request; and they check what the worker guaranteed before: one answer per
message, a chat's messages answered in the order they came.
"""

from __future__ import annotations

import uuid

from bot.channels.webchat.channel import CHANNEL, WebChatChannel
from bot.engine.engine import Engine
from bot.engine.messages import Inbound
from bot.pipeline.service import Pipeline
from bot.storage.deliveries import Deliveries
from bot.storage.repository import SqlConversationStore
from tests.conftest import stored_inbound


def _pipeline(engine: Engine) -> tuple[Pipeline, Deliveries]:
    assert isinstance(engine.store, SqlConversationStore)
    deliveries = Deliveries(engine.store.engine)
    return Pipeline(deliveries, engine, [WebChatChannel()], retention_interval=0), deliveries


def _message(user: str, text: str) -> Inbound:
    return Inbound(CHANNEL, user, text=text, message_id=uuid.uuid4().hex)


async def test_a_waiting_message_is_answered_in_its_own_request(engine: Engine) -> None:
    pipeline, deliveries = _pipeline(engine)  # never started: no worker runs
    user = f"web-{uuid.uuid4().hex[:10]}"
    accepted = await pipeline.accept(_message(user, "Wie lange dauert das Asylverfahren?"), f"{user}:1", answer_now=True)
    assert accepted.answered
    assert await deliveries.inbox_done(accepted.inbox_id)
    answers = await deliveries.fetch(CHANNEL, user, 0, pipeline.clock())
    assert answers and "Asyl" in " ".join(a.message.text for a in answers)


async def test_a_delivery_twice_is_answered_once(engine: Engine) -> None:
    pipeline, _ = _pipeline(engine)
    user = f"web-{uuid.uuid4().hex[:10]}"
    message = _message(user, "Hallo")
    first = await pipeline.accept(message, f"{user}:same", answer_now=True)
    again = await pipeline.accept(message, f"{user}:same", answer_now=True)
    assert again.duplicate and again.claimed is None and again.inbox_id == first.inbox_id
    assert await stored_inbound(engine.store.engine, CHANNEL, user) == ["Hallo"]  # type: ignore[attr-defined]


async def test_a_message_behind_an_open_one_waits_its_turn(engine: Engine) -> None:
    pipeline, deliveries = _pipeline(engine)
    user = f"web-{uuid.uuid4().hex[:10]}"
    # the first message is taken but not answered yet (a turn in progress elsewhere)
    first = await deliveries.accept(_message(user, "Kita"), f"{user}:1", pipeline.clock(), claim=True)
    assert first.claimed is not None
    second = await pipeline.accept(_message(user, "Reutlingen"), f"{user}:2", answer_now=True)
    assert second.claimed is None and not second.answered  # left in the inbox, behind the first
    assert not await deliveries.inbox_done(second.inbox_id)
    assert await stored_inbound(engine.store.engine, CHANNEL, user) == []  # type: ignore[attr-defined]
    await pipeline.worker.work(first.claimed)
    [queued] = await deliveries.claim_inbox(5, pipeline.clock())
    assert queued.id == second.inbox_id
    await pipeline.worker.work(queued)
    assert await stored_inbound(engine.store.engine, CHANNEL, user) == ["Kita", "Reutlingen"]  # type: ignore[attr-defined]
