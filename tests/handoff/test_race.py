"""Two agents claiming at once on a real PostgreSQL: one wins, the other gets 409, nothing lost.

These need committed transactions on several connections, so they run on a database of
their own rather than in the rolled-back test transaction.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select, text

from app.auth import service as auth_service
from app.auth.models import Role
from app.conversation.models import Conversation, ConversationStatus, Message, MessageRole
from app.core.bus import HANDOFF_TOPIC
from app.core.config import DatabaseSettings, Settings
from app.core.errors import Conflict
from app.handoff import service
from app.main import create_app
from app.runtime import Runtime
from tests.conftest import fresh_pg_database
from tests.handoff.conftest import headers, make_conversation, serving


@pytest.fixture(scope="module")
def pg_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with fresh_pg_database("kefu_handoff") as url:
        settings = Settings(
            environment="test",
            data_dir=tmp_path_factory.mktemp("race"),
            secret_key="test-secret-0123456789abcdef",
            db=DatabaseSettings(url=url),
        )
        rt = Runtime.build(settings)
        yield rt
        rt.close()


def _audit(rt: Runtime, conv_id: str) -> list[str]:
    with rt.session_factory() as s:
        return list(
            s.scalars(
                select(Message.content)
                .where(Message.conversation_id == conv_id, Message.role == MessageRole.SYSTEM)
                .order_by(Message.id)
            )
        )


def _waiting_on_locks(rt: Runtime) -> int:
    with rt.engine.connect() as conn:
        return int(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            or 0
        )


def test_a_concurrent_claim_waits_then_loses(pg_runtime: Runtime) -> None:
    conv_id = make_conversation(pg_runtime.session_factory)
    alice = pg_runtime.session_factory()
    # Alice's UPDATE has run but not committed: she holds the row.
    service.claim(db_session=alice, conversation_id=conv_id, agent="alice")

    outcome: dict[str, object] = {}

    def bob_claims() -> None:
        try:
            with pg_runtime.session_factory.begin() as s:
                outcome["won"] = service.claim(db_session=s, conversation_id=conv_id, agent="bob")
        except Conflict as exc:
            outcome["refused"] = exc

    bob = threading.Thread(target=bob_claims)
    bob.start()
    try:
        deadline = time.monotonic() + 10
        while _waiting_on_locks(pg_runtime) < 1:  # Bob's UPDATE is blocked on Alice's row
            assert time.monotonic() < deadline, "the second claim never reached the row lock"
            assert bob.is_alive(), f"the second claim did not wait: {outcome}"
            time.sleep(0.01)
        alice.commit()
    finally:
        alice.close()
        bob.join(10)

    refused = outcome.get("refused")
    assert isinstance(refused, Conflict), outcome
    assert refused.code == "already_claimed" and refused.details == {"assigned_agent": "alice"}
    with pg_runtime.session_factory() as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None and conv.status == ConversationStatus.HUMAN
        assert conv.assigned_agent == "alice"
    assert _audit(pg_runtime, conv_id) == ["claimed by alice"]


async def test_agents_racing_through_the_api(pg_runtime: Runtime) -> None:
    with pg_runtime.session_factory.begin() as s:
        secret = auth_service.create(db_session=s, name="race-admin", role=Role.ADMIN).secret
    conv_ids = [make_conversation(pg_runtime.session_factory) for _ in range(8)]
    agents = ["alice", "bob", "carol"]

    async with (
        serving(create_app(runtime=pg_runtime)) as base_url,
        httpx.AsyncClient(base_url=base_url, headers=headers(secret)) as client,
        pg_runtime.bus.subscribe(HANDOFF_TOPIC) as console,
    ):
        results = await asyncio.gather(
            *(
                client.post(f"/admin/conversations/{c}/claim", json={"agent": a})
                for c in conv_ids
                for a in agents
            )
        )
        queue_events = [await console.get(timeout=5) for _ in conv_ids]
        assert await console.get(timeout=0.2) is None  # one queue event per conversation

    for i, conv_id in enumerate(conv_ids):
        mine = results[i * len(agents) : (i + 1) * len(agents)]
        assert sorted(r.status_code for r in mine) == [200, 409, 409], [r.text for r in mine]
        winner = next(r.json()["assigned_agent"] for r in mine if r.status_code == 200)
        for r in mine:
            if r.status_code == 409:
                error = r.json()["error"]
                assert error["code"] == "already_claimed"
                assert error["details"]["assigned_agent"] == winner
        with pg_runtime.session_factory() as s:
            conv = s.get(Conversation, conv_id)
            assert conv is not None and conv.assigned_agent == winner
            count = s.scalar(
                select(func.count()).select_from(Message).where(Message.conversation_id == conv_id)
            )
        assert _audit(pg_runtime, conv_id) == [f"claimed by {winner}"]
        assert count == 3  # the two seeded messages and the one audit line
    assert sorted(e["conversation_id"] for e in queue_events if e) == sorted(conv_ids)
    assert {e["action"] for e in queue_events if e} == {"claimed"}
