"""WeChat under faults: an answer that could not be stored, and a callback whose worker died
mid-turn. The app (TestClient), the real knowledge base, the scripted Tencent server."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from app.agent import prompts as agent_prompts
from app.channels.models import OwedAnswer
from app.channels.tencent import payload
from app.channels.tencent.lease import LEASE_TTL, LIVE, acquire, owed_key
from app.channels.wechat import outbox
from app.channels.wechat.service import dedup_key
from app.conversation import retries, turns
from app.conversation.models import Message
from app.conversation.prepare import prepare
from app.conversation.schemas import TurnRequest
from app.conversation.turns import run_turn
from app.core.db import utcnow
from app.main import create_app
from app.runtime import Runtime
from tests.channels import tencent_client as wx
from tests.channels.conftest import OA, Gate, channels_of, plain_mode, wait_idle
from tests.channels.tencent_server import TencentServer

URL = "/channels/wechat"
FAQ_ANSWER = "在订单详情页点击“申请发票”即可开具电子发票。"


def _ids() -> tuple[str, str]:
    return "o" + uuid.uuid4().hex[:27], str(uuid.uuid4().int % 10**19)


def _stored(runtime: Runtime, openid: str) -> list[tuple[str, str]]:
    from app.conversation.models import Conversation

    with runtime.session_factory() as s:
        rows = s.execute(
            select(Message.role, Message.content)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.external_user_id == openid)
            .order_by(Message.id)
        ).all()
    return [(str(r.value if hasattr(r, "value") else r), c) for r, c in rows]


@pytest.mark.parametrize("budget", [4.0, 0.0])
def test_an_answer_that_could_not_be_stored_is_not_delivered(
    bot: Runtime,
    tencent: TencentServer,
    monkeypatch: pytest.MonkeyPatch,
    budget: float,
) -> None:
    """Passive reply (budget 4 s) or custom/send (budget 0): the customer is asked to send
    the message again, never given the answer that has no record."""
    tencent.reset()
    plain_mode(bot, monkeypatch)
    monkeypatch.setattr(bot.settings.channels, "wechat_reply_budget", budget)

    def database_down(*_: object) -> None:
        raise OperationalError("INSERT", {}, ConnectionError("database went away"))

    monkeypatch.setattr(turns, "_persist", database_down)
    openid, mid = _ids()
    unsaved = agent_prompts.load().unsaved("zh")
    with TestClient(create_app(runtime=bot)) as client:
        xml = wx.text_message("怎么开发票", user=openid, msg_id=mid)
        resp = client.post(URL, params=wx.plain_query(OA["token"]), content=xml.encode())
        assert resp.status_code == 200
        if budget:
            assert payload.parse(resp.content)["Content"] == unsaved
        else:
            assert resp.content == b"success"
            tencent.wait_for(lambda: len(tencent.delivered()) >= 1, what="custom/send")
        wait_idle(client, tencent)
    sent = [s.body["text"]["content"] for s in tencent.delivered()]
    assert sent == ([] if budget else [unsaved])
    assert FAQ_ANSWER not in resp.text
    assert _stored(bot, openid) == [("user", "怎么开发票")]  # kept: a retry answers it


def _post(client: TestClient, openid: str, mid: str) -> tuple[int, bytes]:
    xml = wx.text_message("怎么开发票", user=openid, msg_id=mid)
    resp = client.post(URL, params=wx.plain_query(OA["token"]), content=xml.encode())
    return resp.status_code, resp.content


async def _store_question(runtime: Runtime, req: TurnRequest) -> None:
    """What a worker killed mid-turn leaves: the turn's first stage done (message stored)."""
    prep = await run_in_threadpool(prepare, runtime, req)
    # Its in-progress marker lapses with the process (the turn's own retry mechanism, tested
    # in tests/agent/test_retries.py); gone at once here rather than 15 s later.
    runtime.cache.delete(retries.marker(prep.user_message_id))


@pytest.mark.parametrize("died", ["before answering", "after storing the answer"])
def test_a_retry_after_the_first_attempt_died_answers_once(
    dedup_bot: Runtime, tencent: TencentServer, monkeypatch: pytest.MonkeyPatch, died: str
) -> None:
    """The state a killed worker leaves: the customer's message stored (and maybe its answer,
    never delivered), the MsgId claimed by a lease nobody renews. WeChat's retry takes the
    message over once the lease lapses, and the customer gets the answer exactly once; a
    later retry changes nothing."""
    tencent.reset()
    plain_mode(dedup_bot, monkeypatch)
    openid, mid = _ids()
    req = TurnRequest(
        channel="wechat", text="怎么开发票", external_user_id=openid, client_message_id=mid
    )
    passive: list[str] = []
    with TestClient(create_app(runtime=dedup_bot)) as client:
        assert client.portal is not None
        first_stage = _store_question if died == "before answering" else run_turn
        client.portal.call(first_stage, dedup_bot, req)
        assert dedup_bot.cache.add(dedup_key({"MsgId": mid}), LIVE + "dead-worker", ttl=LEASE_TTL)

        status, body = _post(client, openid, mid)
        assert status == 200
        if body == b"success":  # the passive budget ran out: the answer follows by custom/send
            tencent.wait_for(lambda: len(tencent.delivered()) >= 1, what="custom/send")
        else:
            passive.append(payload.parse(body)["Content"])
        wait_idle(client, tencent)
        # Answered through custom/send: told ``success``; passively: the same answer again
        # (WeChat keeps one response per message, and retries only when it got none).
        status, again = _post(client, openid, mid)
        assert status == 200
        if passive:
            assert payload.parse(again)["Content"] == passive[0]
        else:
            assert again == b"success"
        wait_idle(client, tencent)
    given = passive + [s.body["text"]["content"] for s in tencent.delivered()]
    assert given == [FAQ_ANSWER]
    assert _stored(dedup_bot, openid) == [("user", "怎么开发票"), ("assistant", FAQ_ANSWER)]


def _backdate(runtime: Runtime, msg_id: str, seconds: float) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from app.core.db import utcnow

    with runtime.session_factory.begin() as s:
        s.execute(
            update(Message)
            .where(Message.client_message_id == msg_id)
            .values(created_at=utcnow() - timedelta(seconds=seconds))
        )


@pytest.mark.parametrize("died", ["before answering", "after storing the answer"])
def test_an_owed_answer_is_sent_after_its_process_died(
    dedup_bot: Runtime, tencent: TencentServer, monkeypatch: pytest.MonkeyPatch, died: str
) -> None:
    """WeChat was told ``success`` (so it never retries) and the worker died before sending:
    the message is marked owed beyond the process, and another process's sweep sends the
    answer once its lease has lapsed, exactly once."""
    tencent.reset()
    openid, mid = _ids()
    req = TurnRequest(
        channel="wechat", text="怎么开发票", external_user_id=openid, client_message_id=mid
    )
    key = dedup_key({"MsgId": mid})
    with TestClient(create_app(runtime=dedup_bot)) as client:
        portal = client.portal
        assert portal is not None
        portal.call(_store_question if died == "before answering" else run_turn, dedup_bot, req)
        dedup_bot.cache.set(owed_key(key), "1", ttl=60)  # owed; its lease lapsed with it
        _backdate(dedup_bot, mid, 10)
        channels = channels_of(client)
        assert portal.call(outbox.sweep, channels) == 1
        tencent.wait_for(lambda: len(tencent.delivered()) >= 1, what="custom/send")
        wait_idle(client, tencent)
        assert portal.call(outbox.sweep, channels) == 0  # delivered: done
        assert dedup_bot.cache.get(owed_key(key)) is None
        # Not owed (WeChat still retries it, or its marks were lost): the sweep leaves it.
        other, other_mid = _ids()
        portal.call(
            run_turn,
            dedup_bot,
            TurnRequest(
                channel="wechat",
                text="怎么开发票",
                external_user_id=other,
                client_message_id=other_mid,
            ),
        )
        _backdate(dedup_bot, other_mid, 10)
        assert portal.call(outbox.sweep, channels) == 0
    assert [s.body["text"]["content"] for s in tencent.delivered()] == [FAQ_ANSWER]
    assert tencent.delivered()[0].body["touser"] == openid
    assert _stored(dedup_bot, openid) == [("user", "怎么开发票"), ("assistant", FAQ_ANSWER)]


def test_an_answer_is_owed_until_custom_send_delivers_it(
    dedup_bot: Runtime, tencent: TencentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    tencent.reset()
    plain_mode(dedup_bot, monkeypatch)
    monkeypatch.setattr(dedup_bot.settings.channels, "wechat_reply_budget", 0.2)
    openid, mid = _ids()
    key = dedup_key({"MsgId": mid})
    gate = Gate()
    with TestClient(create_app(runtime=dedup_bot)) as client:
        channels_of(client).run_turn = gate
        assert _post(client, openid, mid) == (200, b"success")
        assert dedup_bot.cache.get(owed_key(key)) == "1"
        assert _owed_rows(dedup_bot, key) == [(key, False)]
        gate.opened.set()
        tencent.wait_for(lambda: len(tencent.delivered()) >= 1, what="custom/send")
        wait_idle(client, tencent)
    assert dedup_bot.cache.get(owed_key(key)) is None
    assert dedup_bot.cache.get(key) == "done"
    assert _owed_rows(dedup_bot, key) == [(key, True)]


def _owed_rows(runtime: Runtime, key: str) -> list[tuple[str, bool]]:
    """(key, delivered) of the message's owed answer recorded in the database."""
    with runtime.session_factory() as s:
        rows = s.execute(
            select(OwedAnswer.key, OwedAnswer.delivered_at).where(OwedAnswer.key == key)
        ).all()
    return [(k, d is not None) for k, d in rows]


def test_an_owed_answer_outlives_a_cache_that_lost_its_data(
    dedup_bot: Runtime, tencent: TencentServer
) -> None:
    """The worker died owing the answer (WeChat was told ``success``), and the cache lost its
    data (a Redis restarted without persistence: the lease and the owed mark gone). The
    owed answer is recorded in the database too: the sweep sends it, once."""
    tencent.reset()
    openid, mid = _ids()
    req = TurnRequest(
        channel="wechat", text="怎么开发票", external_user_id=openid, client_message_id=mid
    )
    key = dedup_key({"MsgId": mid})

    async def owe_and_die() -> None:
        lease = await acquire(dedup_bot, key, wait=0)
        assert lease is not None
        await lease.owe(req)
        await lease.release()  # the process died: nothing renews it, nothing finishes it

    with TestClient(create_app(runtime=dedup_bot)) as client:
        portal = client.portal
        assert portal is not None
        portal.call(_store_question, dedup_bot, req)
        portal.call(owe_and_die)
        for lost in (key, owed_key(key)):
            dedup_bot.cache.delete(lost)
        with dedup_bot.session_factory.begin() as s:  # owed for longer than a lease
            s.execute(
                update(OwedAnswer)
                .where(OwedAnswer.key == key)
                .values(created_at=utcnow() - timedelta(seconds=10))
            )
        channels = channels_of(client)
        assert portal.call(outbox.sweep, channels) == 1
        tencent.wait_for(lambda: len(tencent.delivered()) >= 1, what="custom/send")
        wait_idle(client, tencent)
        assert portal.call(outbox.sweep, channels) == 0  # delivered: done
    assert [s.body["text"]["content"] for s in tencent.delivered()] == [FAQ_ANSWER]
    assert _owed_rows(dedup_bot, key) == [(key, True)]
    assert _stored(dedup_bot, openid) == [("user", "怎么开发票"), ("assistant", FAQ_ANSWER)]


def test_an_owed_answer_delivered_while_redis_was_down_is_not_sent_again(
    dedup_bot: Runtime, tencent: TencentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer went out through custom/send while Redis was down: the done mark and the
    owed mark's delete went to the in-process fallback, and Redis, back with its data, still
    says owed, with no live lease. The database knows it was delivered: no second send."""
    tencent.reset()
    plain_mode(dedup_bot, monkeypatch)
    monkeypatch.setattr(dedup_bot.settings.channels, "wechat_reply_budget", 0.2)
    openid, mid = _ids()
    key = dedup_key({"MsgId": mid})
    gate = Gate()
    with TestClient(create_app(runtime=dedup_bot)) as client:
        channels_of(client).run_turn = gate
        assert _post(client, openid, mid) == (200, b"success")
        gate.opened.set()
        tencent.wait_for(lambda: len(tencent.delivered()) >= 1, what="custom/send")
        wait_idle(client, tencent)
        # What Redis holds once back: the owed mark from before the outage, the lease gone.
        dedup_bot.cache.set(owed_key(key), "1", ttl=60)
        dedup_bot.cache.delete(key)
        _backdate(dedup_bot, mid, 10)
        assert client.portal is not None
        assert client.portal.call(outbox.sweep, channels_of(client)) == 0
        wait_idle(client, tencent)
    assert [s.body["text"]["content"] for s in tencent.delivered()] == [FAQ_ANSWER]


def test_a_passive_answer_wechat_never_got_is_given_on_its_retry(
    dedup_bot: Runtime, tencent: TencentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker died after the passive answer was ready and before WeChat got the response
    (or the response came after WeChat's 5 s): WeChat retries, and the retry must carry the
    answer. It was told ``success`` (the answer marked done before it was delivered), and the
    stored answer never reached the customer."""
    tencent.reset()
    plain_mode(dedup_bot, monkeypatch)
    openid, mid = _ids()
    with TestClient(create_app(runtime=dedup_bot)) as client:
        status, lost_in_transit = _post(client, openid, mid)
        assert status == 200 and payload.parse(lost_in_transit)["Content"] == FAQ_ANSWER
        status, retry = _post(client, openid, mid)
        assert status == 200 and retry != b"success"
        assert payload.parse(retry)["Content"] == FAQ_ANSWER
        wait_idle(client, tencent)
    assert tencent.sends() == []  # one answer, in the response WeChat kept
    assert _stored(dedup_bot, openid) == [("user", "怎么开发票"), ("assistant", FAQ_ANSWER)]
