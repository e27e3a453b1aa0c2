"""The Official Account channel end to end: the app (TestClient), a real knowledge base, and
a scripted Tencent API server on a real socket."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.attachments.vision import prompts
from app.channels.tencent import payload
from app.channels.tencent.crypto import MsgCrypt, sha1_signature
from app.channels.wechat.service import UNSUPPORTED
from app.conversation.models import Conversation, Message
from app.core.bus import Event
from app.core.config import Settings
from app.main import create_app
from app.runtime import Runtime
from tests.channels import tencent_client as wx
from tests.channels.conftest import (
    OA,
    Gate,
    channels_of,
    message_count,
    plain_mode,
    wait_idle,
)
from tests.channels.tencent_server import TencentServer

URL = "/channels/wechat"
CUSTOM_SEND = "/cgi-bin/message/custom/send"


def user() -> str:
    return "o" + uuid.uuid4().hex[:27]


def msg_id() -> str:
    return str(uuid.uuid4().int % 10**19)


def post_plain(client: TestClient, xml: str, **query: str) -> tuple[int, bytes]:
    params = {**wx.plain_query(OA["token"]), **query}
    resp = client.post(URL, params=params, content=xml.encode())
    return resp.status_code, resp.content


def test_url_verification(client: TestClient) -> None:
    ok = client.get(URL, params={**wx.plain_query(OA["token"]), "echostr": "8844"})
    assert ok.status_code == 200 and ok.text == "8844"

    forged = client.get(URL, params={**wx.plain_query("not-the-token"), "echostr": "8844"})
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "invalid_signature"

    old = wx.plain_query(OA["token"], timestamp=str(int(time.time()) - 3600))
    stale = client.get(URL, params={**old, "echostr": "8844"})
    assert stale.status_code == 403 and stale.json()["error"]["code"] == "stale_request"


def test_plain_mode_conversation(client: TestClient, bot: Runtime, plain: None) -> None:
    openid = user()
    question = "积分抵扣有没有上限？最多能抵订单金额的多少？"
    status, body = post_plain(client, wx.text_message(question, user=openid, msg_id=msg_id()))
    assert status == 200 and "30%" in payload.parse(body)["Content"]

    status, body = post_plain(client, wx.text_message("怎么开发票", user=openid, msg_id=msg_id()))
    assert status == 200
    reply = payload.parse(body)
    assert reply["MsgType"] == "text"
    assert (reply["ToUserName"], reply["FromUserName"]) == (openid, "gh_kefu")
    assert reply["Content"] == "在订单详情页点击“申请发票”即可开具电子发票。"

    with bot.session_factory() as s:
        convs = s.scalars(select(Conversation).where(Conversation.external_user_id == openid)).all()
        assert [(c.channel, c.status.value) for c in convs] == [("wechat", "bot")]
        roles = s.scalars(
            select(Message.role).where(Message.conversation_id == convs[0].id).order_by(Message.id)
        ).all()
    assert [r.value for r in roles] == ["user", "assistant", "user", "assistant"]


def test_safe_mode_conversation(client: TestClient, oa_crypt: MsgCrypt) -> None:
    openid = user()
    xml = wx.text_message("能开发票吗", user=openid, msg_id=msg_id())
    body, query = wx.sealed(oa_crypt, xml, to="gh_kefu")
    resp = client.post(URL, params={**query, "encrypt_type": "aes"}, content=body.encode())
    assert resp.status_code == 200
    assert "<Encrypt>" in resp.text and "申请发票" not in resp.text  # nothing in the clear
    reply = wx.open_reply(oa_crypt, resp.content)
    assert reply["ToUserName"] == openid
    assert reply["Content"] == "在订单详情页点击“申请发票”即可开具电子发票。"


def test_subscribe_and_unsupported_types(client: TestClient, bot: Runtime, plain: None) -> None:
    openid = user()
    status, body = post_plain(client, wx.event_message("subscribe", user=openid))
    welcome = payload.parse(body)["Content"]
    assert status == 200 and bot.settings.company_name in welcome and "转人工" in welcome

    before = message_count(bot)
    for kind in ("voice", "location"):
        xml = wx.text_message("", user=openid, msg_id=msg_id(), msg_type=kind)
        status, body = post_plain(client, xml)
        assert status == 200 and payload.parse(body)["Content"] == UNSUPPORTED
    # An image Tencent no longer serves (unknown MediaId, no PicUrl): said so, nothing kept.
    xml = wx.message("image", user=openid, msg_id=msg_id(), MediaId="expired-media")
    status, body = post_plain(client, xml)
    assert status == 200 and payload.parse(body)["Content"] == prompts().text("refused", "zh")
    too_long = wx.text_message("长" * 5000, user=openid, msg_id=msg_id())
    status, body = post_plain(client, too_long)
    assert "消息太长了" in payload.parse(body)["Content"]
    assert message_count(bot) == before

    voice = wx.message(
        "voice", user=openid, msg_id=msg_id(), MediaId="m1", Recognition="怎么开发票"
    )
    status, body = post_plain(client, voice)
    assert "申请发票" in payload.parse(body)["Content"]

    status, body = post_plain(client, wx.event_message("unsubscribe", user=openid))
    assert (status, body) == (200, b"success")


@pytest.mark.parametrize("query", ["new", "same"])
def test_a_retry_is_answered_once(
    client: TestClient, bot: Runtime, tencent: TencentServer, plain: None, query: str
) -> None:
    """Whether WeChat's retries carry a new nonce and signature or repeat the first query
    string (its documentation does not say), the message is answered once. WeChat retries
    only when it did not get the response (it came after its 5 s, or never), so a retry of a
    passively answered message gets the stored answer again, never a second one."""
    xml = wx.text_message("怎么开发票", user=user(), msg_id=msg_id())
    params = wx.plain_query(OA["token"])
    before = message_count(bot)
    first = client.post(URL, params=params, content=xml.encode())
    assert first.status_code == 200 and b"<Content>" in first.content
    answer = payload.parse(first.content)["Content"]
    for _ in range(3):
        retry_params = params if query == "same" else wx.plain_query(OA["token"])
        retry = client.post(URL, params=retry_params, content=xml.encode())
        assert retry.status_code == 200 and payload.parse(retry.content)["Content"] == answer
    assert message_count(bot) == before + 2
    wait_idle(client, tencent)
    assert tencent.sends() == []


def test_refusals_change_nothing(
    client: TestClient,
    bot: Runtime,
    tencent: TencentServer,
    oa_crypt: MsgCrypt,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = wx.text_message("怎么开发票", user=user(), msg_id=msg_id())
    before = message_count(bot)

    def refused(status: int, code: str, resp: httpx.Response) -> None:
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code)

    # The request of Tencent's own Python sample, genuinely signed for this account, in 2014.
    from tests.channels.test_crypto import OA_PY_ENCRYPT, OA_PY_REQUEST

    replay = payload.render({"ToUserName": "gh_10f6c3c3ac5a", "Encrypt": OA_PY_ENCRYPT})
    resp = client.post(
        URL, params={**OA_PY_REQUEST, "encrypt_type": "aes"}, content=replay.encode()
    )
    refused(403, "stale_request", resp)

    body, query = wx.sealed(oa_crypt, good, to="gh_kefu")
    query["msg_signature"] = "0" * 40
    resp = client.post(URL, params={**query, "encrypt_type": "aes"}, content=body.encode())
    refused(403, "invalid_signature", resp)

    plain_mode(bot, monkeypatch)
    forged = client.post(URL, params=wx.plain_query("guess"), content=good.encode())
    refused(403, "invalid_signature", forged)
    no_sig = client.post(URL, params={"timestamp": wx.now(), "nonce": "1"}, content=good.encode())
    refused(403, "invalid_signature", no_sig)

    old = wx.plain_query(OA["token"], timestamp=str(int(time.time()) - 600))
    refused(403, "stale_request", client.post(URL, params=old, content=good.encode()))

    def fresh() -> dict[str, str]:
        return wx.plain_query(OA["token"])  # a signed query is bound to its first message

    refused(400, "malformed_xml", client.post(URL, params=fresh(), content=b"<xml><Content>"))
    bomb = b'<!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><Content>&a;</Content></xml>'
    refused(400, "malformed_xml", client.post(URL, params=fresh(), content=bomb))
    refused(400, "malformed_xml", client.post(URL, params=fresh(), content=b"<xml></xml>"))
    huge = b"<xml><Content>" + b"a" * 70_000 + b"</Content></xml>"
    refused(413, "payload_too_large", client.post(URL, params=fresh(), content=huge))

    assert message_count(bot) == before
    assert tencent.calls == []


def test_plain_mode_is_refused_when_the_aes_key_is_set(
    client: TestClient, bot: Runtime, oa_crypt: MsgCrypt
) -> None:
    """In safe mode WeChat also sends the plain ``signature`` in the URL; whoever sees that
    URL must not be able to post plaintext XML, as any openid, with it."""
    victim = user()
    genuine = wx.text_message("怎么开发票", user=user(), msg_id=msg_id())
    body, query = wx.sealed(oa_crypt, genuine, to="gh_kefu")
    query["signature"] = sha1_signature(OA["token"], query["timestamp"], query["nonce"])
    attacker_xml = wx.text_message("转人工", user=victim, msg_id=msg_id())
    before = message_count(bot)
    downgrades = [
        {k: v for k, v in query.items() if k != "msg_signature"},
        {**query, "encrypt_type": "raw"},
        wx.plain_query(OA["token"]),  # even a plain query signed with the token itself
    ]
    for params in downgrades:
        resp = client.post(URL, params=params, content=attacker_xml.encode())
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"]["code"] == "encryption_required"
    assert message_count(bot) == before
    with bot.session_factory() as s:
        assert (
            s.scalars(select(Conversation).where(Conversation.external_user_id == victim)).all()
            == []
        )

    # The genuine safe-mode callback is still answered.
    resp = client.post(URL, params={**query, "encrypt_type": "aes"}, content=body.encode())
    assert resp.status_code == 200
    assert "申请发票" in wx.open_reply(oa_crypt, resp.content)["Content"]


def test_a_plain_signed_query_is_bound_to_its_message(
    dedup_bot: Runtime, tencent: TencentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plain signature covers token, timestamp and nonce only: a captured query must not
    carry a different body (another openid, another message) inside the 5-minute window,
    while the same query with the same message is a retry and answered once."""
    tencent.reset()
    plain_mode(dedup_bot, monkeypatch)
    customer, victim = user(), user()
    params = wx.plain_query(OA["token"])
    genuine_id = msg_id()
    genuine = wx.text_message("怎么开发票", user=customer, msg_id=genuine_id)
    with TestClient(create_app(runtime=dedup_bot)) as client:

        def post(query: dict[str, str], xml: str) -> httpx.Response:
            return client.post(URL, params=query, content=xml.encode())

        first = post(params, genuine)
        assert first.status_code == 200 and "申请发票" in payload.parse(first.content)["Content"]
        before = message_count(dedup_bot)
        retry = post(params, genuine)  # a retry that repeats the query string
        assert retry.status_code == 200
        assert payload.parse(retry.content)["Content"] == payload.parse(first.content)["Content"]

        forgeries = [
            wx.text_message("转人工", user=victim, msg_id=msg_id()),
            wx.text_message("转人工", user=victim, msg_id=genuine_id),  # the genuine MsgId
            wx.text_message("转人工", user=customer, msg_id=msg_id()),  # the genuine sender
            wx.event_message("subscribe", user=customer),
        ]
        upper = {**params, "signature": params["signature"].upper()}
        for query in (params, upper):
            for forged in forgeries:
                replayed = post(query, forged)
                assert replayed.status_code == 403, replayed.text
                assert replayed.json()["error"]["code"] == "replayed"
        assert message_count(dedup_bot) == before

        # Every new callback comes with its own signed query.
        fresh = post(wx.plain_query(OA["token"]), forgeries[0])
        assert fresh.status_code == 200
        wait_idle(client, tencent)
    assert tencent.sends() == []
    with dedup_bot.session_factory() as s:
        convs = s.scalars(select(Conversation).where(Conversation.external_user_id == victim)).all()
    assert len(convs) == 1  # only through the fresh, genuinely signed query


def test_an_event_retry_with_the_same_query_is_welcomed_once(
    dedup_bot: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events have no MsgId: the binding is to sender, CreateTime and event."""
    plain_mode(dedup_bot, monkeypatch)
    openid = user()
    params = wx.plain_query(OA["token"])
    created = int(time.time())
    event = wx.event_message("subscribe", user=openid, created=created)
    later = wx.event_message("subscribe", user=openid, created=created + 1)
    with TestClient(create_app(runtime=dedup_bot)) as client:
        first = client.post(URL, params=params, content=event.encode())
        assert "转人工" in payload.parse(first.content)["Content"]
        retries = [client.post(URL, params=params, content=event.encode()) for _ in range(3)]
        assert [(r.status_code, r.content) for r in retries] == [(200, b"success")] * 3
        other = client.post(URL, params=params, content=later.encode())
        assert (other.status_code, other.json()["error"]["code"]) == (403, "replayed")


def test_unconfigured_channel_is_not_found(runtime: Runtime) -> None:
    assert runtime.settings.channels.wechat_token is None
    with TestClient(create_app(runtime=runtime)) as c:
        resp = c.get(URL, params={"echostr": "1"})
        post = c.post("/channels/wecom", content=b"<xml/>")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "channel_not_configured"
    assert post.status_code == 404


@pytest.fixture
def settings(tmp_path: object) -> Settings:
    # Only for test_unconfigured_channel_is_not_found (conftest's runtime): no channel env.
    from pathlib import Path

    from app.core.config import ChannelSettings

    assert isinstance(tmp_path, Path)
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        secret_key="test-secret-0123456789abcdef",  # type: ignore[arg-type]
        channels=ChannelSettings(_env_file=None),  # type: ignore[call-arg]
    )


@pytest.mark.parametrize("query", ["new", "same"])
def test_slow_answer_goes_out_once_through_custom_send(
    dedup_bot: Runtime, tencent: TencentServer, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    tencent.reset()
    plain_mode(dedup_bot, monkeypatch)
    monkeypatch.setattr(dedup_bot.settings.channels, "wechat_reply_budget", 0.5)
    openid = user()
    xml = wx.text_message("怎么开发票", user=openid, msg_id=msg_id())
    params = wx.plain_query(OA["token"])
    gate = Gate()
    with TestClient(create_app(runtime=dedup_bot)) as client:
        channels_of(client).run_turn = gate

        def post() -> tuple[int, bytes]:
            retry_params = params if query == "same" else wx.plain_query(OA["token"])
            resp = client.post(URL, params=retry_params, content=xml.encode())
            return resp.status_code, resp.content

        started = time.monotonic()
        assert post() == (200, b"success")
        assert time.monotonic() - started < 2.0
        for _ in range(3):  # while the first is still being answered
            assert post() == (200, b"success")
        assert gate.started == 1 and tencent.sends() == []
        gate.opened.set()
        tencent.wait_for(lambda: len(tencent.delivered()) >= 1, what="custom/send")
        wait_idle(client, tencent)
    sends = tencent.delivered()
    assert [s.path for s in sends] == [CUSTOM_SEND]
    assert sends[0].body == {
        "touser": openid,
        "msgtype": "text",
        "text": {"content": "在订单详情页点击“申请发票”即可开具电子发票。"},
    }


def test_agent_messages_reach_the_customer_once(client: TestClient, tencent: TencentServer) -> None:
    channels = channels_of(client)
    tencent.wait_for(lambda: "wechat" in channels.listening, what="listener")
    openid = user()
    event: Event = {
        "type": "agent_message",
        "conversation_id": uuid.uuid4().hex,
        "message_id": 7,
        "content": "您好，我是人工客服小王，已为您补开发票。",
        "agent": "wang",
        "created_at": "2025-01-01T00:00:00Z",
        "external_user_id": openid,
    }
    tencent.fail_next(503)  # the first attempt fails; the delivery retries
    portal = client.portal
    assert portal is not None
    portal.call(client.app.state.runtime.bus.publish, "channel:wechat", event)  # type: ignore[attr-defined]
    portal.call(client.app.state.runtime.bus.publish, "channel:wechat", event)  # type: ignore[attr-defined]
    status: Event = {
        "type": "status",
        "conversation_id": event["conversation_id"],
        "status": "human",
    }
    portal.call(client.app.state.runtime.bus.publish, "channel:wechat", status)  # type: ignore[attr-defined]
    tencent.wait_for(lambda: len(tencent.delivered()) >= 1, what="retried custom/send")
    wait_idle(client, tencent)
    # One failed attempt, retried; the duplicate event and the status event sent nothing.
    assert 503 in [c.result for c in tencent.sends()]
    delivered = tencent.delivered()
    assert len(delivered) == 1
    assert delivered[0].body["touser"] == openid
    assert delivered[0].body["text"]["content"] == event["content"]
