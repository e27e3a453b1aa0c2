"""The WeCom channel end to end: encrypted callbacks in, ``message/send`` and 微信客服
``sync_msg``/``send_msg`` out, against a scripted Tencent server on a real socket."""

from __future__ import annotations

import time
import uuid

import httpx
from fastapi.testclient import TestClient

from app.channels.models import ChannelCursor
from app.channels.tencent import payload
from app.channels.tencent.callback import DEDUP_TTL
from app.channels.tencent.crypto import MsgCrypt
from app.channels.wechat.service import UNSUPPORTED, welcome
from app.core.bus import Event
from app.core.cache import InProcessCache
from app.main import create_app
from app.runtime import Runtime
from tests.channels import tencent_client as wx
from tests.channels.conftest import CORP, CORP_KEY, channels_of, message_count, wait_idle
from tests.channels.tencent_server import TencentServer

URL = "/channels/wecom"
MESSAGE_SEND = "/cgi-bin/message/send"
KF_SEND = "/cgi-bin/kf/send_msg"
INVOICE = "在订单详情页点击“申请发票”即可开具电子发票。"


def post(client: TestClient, crypt: MsgCrypt, xml: str) -> httpx.Response:
    body, query = wx.sealed(crypt, xml, to=CORP["corp_id"])
    return client.post(URL, params=query, content=body.encode())


def app_message(content: str, *, user: str, msg_id: str, msg_type: str = "text") -> str:
    fields: dict[str, str | int] = {
        "ToUserName": CORP["corp_id"],
        "FromUserName": user,
        "CreateTime": int(time.time()),
        "MsgType": msg_type,
        "Content": content,
        "MsgId": msg_id,
        "AgentID": int(CORP["agent_id"]),
    }
    return payload.render(fields)


def test_url_verification(client: TestClient, corp_crypt: MsgCrypt) -> None:
    ts, nonce = wx.now(), wx.nonce()
    echostr, sig = corp_crypt.seal("5927782489442352469", timestamp=ts, nonce=nonce)
    query = {"msg_signature": sig, "timestamp": ts, "nonce": nonce, "echostr": echostr}
    ok = client.get(URL, params=query)
    assert ok.status_code == 200 and ok.text == "5927782489442352469"

    forged = client.get(URL, params={**query, "msg_signature": "f" * 40})
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "invalid_signature"

    # Tencent's published verification request for this corp: genuine, and ten years old.
    from tests.channels.test_crypto import CORP_OLD_ECHO

    stale = client.get(URL, params=CORP_OLD_ECHO)
    assert stale.status_code == 403 and stale.json()["error"]["code"] == "stale_request"


def test_messages_are_answered_through_message_send(
    client: TestClient, corp_crypt: MsgCrypt, tencent: TencentServer
) -> None:
    userid = "zhangsan-" + uuid.uuid4().hex[:6]
    xml = app_message("怎么开发票", user=userid, msg_id=uuid.uuid4().hex)
    first = post(client, corp_crypt, xml)
    assert (first.status_code, first.text) == (200, "")
    for _ in range(2):  # WeCom's retries
        assert post(client, corp_crypt, xml).status_code == 200
    location = app_message("", user=userid, msg_id=uuid.uuid4().hex, msg_type="location")
    assert post(client, corp_crypt, location).status_code == 200
    tencent.wait_for(lambda: len(tencent.delivered()) >= 2, what="message/send")
    wait_idle(client, tencent)
    bodies = sorted((c.body["text"]["content"] for c in tencent.delivered(MESSAGE_SEND)), key=len)
    assert bodies == sorted([INVOICE, UNSUPPORTED], key=len)
    sent = tencent.delivered(MESSAGE_SEND)[0].body
    assert sent["touser"] == userid and sent["agentid"] == 1000002 and sent["msgtype"] == "text"
    assert any(c.path == "/cgi-bin/gettoken" for c in tencent.calls)


def test_subscribe_is_welcomed_once_through_message_send(
    client: TestClient, bot: Runtime, corp_crypt: MsgCrypt, tencent: TencentServer
) -> None:
    """A member who follows the app (成员关注) gets the welcome by API: WeCom reads no
    passive reply; an unsubscribe or another event says nothing."""
    userid = "wangwu-" + uuid.uuid4().hex[:6]
    agent = {"AgentID": CORP["agent_id"]}
    subscribe = wx.event_message("subscribe", user=userid, to=CORP["corp_id"], **agent)
    for _ in range(3):  # WeCom's retries of the one event
        resp = post(client, corp_crypt, subscribe)
        assert (resp.status_code, resp.text) == (200, "")
    for other in ("unsubscribe", "enter_agent"):
        event = wx.event_message(other, user=userid, to=CORP["corp_id"], **agent)
        assert post(client, corp_crypt, event).status_code == 200
    tencent.wait_for(lambda: len(tencent.delivered()) >= 1, what="message/send")
    wait_idle(client, tencent)
    [send] = tencent.delivered()
    assert send.path == MESSAGE_SEND
    assert send.body == {
        "touser": userid,
        "msgtype": "text",
        "agentid": int(CORP["agent_id"]),
        "text": {"content": welcome(bot.settings)},
    }
    assert bot.settings.company_name in send.body["text"]["content"]


def test_refusals_change_nothing(
    client: TestClient, bot: Runtime, corp_crypt: MsgCrypt, tencent: TencentServer
) -> None:
    before = message_count(bot)
    xml = app_message("怎么开发票", user="lisi", msg_id=uuid.uuid4().hex)

    # Same token and key, but sealed for another corp: decrypts, and is refused.
    other = MsgCrypt(token=CORP["token"], encoding_aes_key=CORP_KEY, receive_id="ww_other_corp")
    resp = post(client, other, xml)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "invalid_receiver"

    body, query = wx.sealed(corp_crypt, xml, to=CORP["corp_id"])
    forged = client.post(URL, params={**query, "nonce": "1"}, content=body.encode())
    assert forged.status_code == 403

    from tests.channels.test_crypto import CORP_OLD_ENCRYPT, CORP_OLD_REQUEST

    replay = payload.render({"ToUserName": CORP["corp_id"], "Encrypt": CORP_OLD_ENCRYPT})
    stale = client.post(URL, params=CORP_OLD_REQUEST, content=replay.encode())
    assert stale.status_code == 403 and stale.json()["error"]["code"] == "stale_request"

    plain = client.post(URL, params=query, content=xml.encode())  # WeCom is never plain
    assert plain.status_code == 400 and plain.json()["error"]["code"] == "malformed_xml"

    garbage = payload.render({"ToUserName": CORP["corp_id"], "Encrypt": "bm90IGEgYmxvY2s="})
    ts, nonce = wx.now(), wx.nonce()
    sig = corp_crypt.signature(ts, nonce, "bm90IGEgYmxvY2s=")
    resp = client.post(
        URL, params={"msg_signature": sig, "timestamp": ts, "nonce": nonce}, content=garbage
    )
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_ciphertext"

    assert message_count(bot) == before
    assert tencent.calls == []


def test_wechat_customer_service_kf_flow(
    client: TestClient, corp_crypt: MsgCrypt, tencent: TencentServer
) -> None:
    kf, customer = "wkAJ2GCAAA" + uuid.uuid4().hex[:6], "wmAJ2GCAAA" + uuid.uuid4().hex[:6]

    def kf_msg(msgid: str, text: str, origin: int = 3) -> dict[str, object]:
        return {
            "msgid": msgid,
            "open_kfid": kf,
            "external_userid": customer,
            "send_time": int(time.time()),
            "origin": origin,
            "msgtype": "text",
            "text": {"content": text},
        }

    first_id = uuid.uuid4().hex
    tencent.kf_pages.extend(
        [
            {"next_cursor": "c1", "has_more": 1, "msg_list": [kf_msg(first_id, "怎么开发票")]},
            # The bot's own earlier reply (origin 5) is not a customer message.
            {"next_cursor": "c2", "has_more": 0, "msg_list": [kf_msg("x", "机器人回复", 5)]},
            # The next event: a duplicate of an old message and a new one.
            {
                "next_cursor": "c3",
                "has_more": 0,
                "msg_list": [kf_msg(first_id, "怎么开发票"), kf_msg(uuid.uuid4().hex, "在吗")],
            },
        ]
    )

    def event(token: str) -> str:
        return wx.kf_event(token=token, open_kfid=kf, to=CORP["corp_id"])

    assert post(client, corp_crypt, event("sync-token-1")).status_code == 200
    tencent.wait_for(lambda: len(tencent.delivered("/cgi-bin/kf/send_msg")) >= 1, what="kf")
    wait_idle(client, tencent)
    assert post(client, corp_crypt, event("sync-token-2")).status_code == 200
    tencent.wait_for(lambda: len(tencent.delivered("/cgi-bin/kf/send_msg")) >= 2, what="kf 2")
    wait_idle(client, tencent)

    syncs = [c.body for c in tencent.calls if c.path == "/cgi-bin/kf/sync_msg"]
    assert [(s["token"], s.get("cursor")) for s in syncs] == [
        ("sync-token-1", None),
        ("sync-token-1", "c1"),
        ("sync-token-2", "c2"),  # the cursor stored by the first event's sync
    ]
    sends = tencent.delivered("/cgi-bin/kf/send_msg")
    assert len(sends) == 2
    assert {(s.body["touser"], s.body["open_kfid"]) for s in sends} == {(customer, kf)}
    assert sends[0].body["text"]["content"] == INVOICE


def test_agent_messages_reach_wecom_users(client: TestClient, tencent: TencentServer) -> None:
    channels = channels_of(client)
    tencent.wait_for(lambda: {"wecom", "wecom_kf"} <= channels.listening, what="listeners")
    portal = client.portal
    assert portal is not None
    bus = channels.runtime.bus
    app_event: Event = {
        "type": "agent_message",
        "conversation_id": uuid.uuid4().hex,
        "message_id": 1,
        "content": "人工客服已接入，请问还有什么可以帮您？",
        "agent": "alice",
        "created_at": "2025-01-01T00:00:00Z",
        "external_user_id": "wangwu",
    }
    kf_event: Event = {**app_event, "message_id": 2, "external_user_id": "wkKF/wmCUSTOMER"}
    portal.call(bus.publish, "channel:wecom", app_event)
    portal.call(bus.publish, "channel:wecom_kf", kf_event)
    tencent.wait_for(lambda: len(tencent.delivered()) >= 2, what="agent messages")
    wait_idle(client, tencent)
    app_send = tencent.delivered(MESSAGE_SEND)[0].body
    assert (app_send["touser"], app_send["text"]["content"]) == ("wangwu", app_event["content"])
    kf_send = tencent.delivered("/cgi-bin/kf/send_msg")[0].body
    assert (kf_send["open_kfid"], kf_send["touser"]) == ("wkKF", "wmCUSTOMER")


def test_kf_cursor_survives_a_restart_and_old_messages_are_not_answered(
    bot: Runtime, corp_crypt: MsgCrypt, tencent: TencentServer
) -> None:
    """A restart loses the cache; the sync_msg cursor must not go with it, or sync_msg starts
    again from three days back and every customer is answered twice."""
    tencent.reset()
    kf, customer = "wkCUR" + uuid.uuid4().hex[:8], "wmCUR" + uuid.uuid4().hex[:8]

    def kf_msg(text: str, *, age: float = 0) -> dict[str, object]:
        return {
            "msgid": uuid.uuid4().hex,
            "open_kfid": kf,
            "external_userid": customer,
            "send_time": int(time.time() - age),
            "origin": 3,
            "msgtype": "text",
            "text": {"content": text},
        }

    def event(token: str) -> str:
        return wx.kf_event(token=token, open_kfid=kf, to=CORP["corp_id"])

    def run(token: str, page: dict[str, object], sends: int) -> None:
        tencent.kf_pages.append(page)
        with TestClient(create_app(runtime=bot)) as client:
            assert post(client, corp_crypt, event(token)).status_code == 200
            tencent.wait_for(lambda: len(tencent.delivered(KF_SEND)) >= sends, what="kf send")
            wait_idle(client, tencent)

    # Older than the dedup window: possibly answered before; never answered (again) now.
    stale = kf_msg("在吗", age=DEDUP_TTL + 60)
    run("token-1", {"next_cursor": "c1", "msg_list": [stale, kf_msg("怎么开发票")]}, 1)
    assert stored_cursor(bot, kf) == "c1"

    original = bot.cache
    bot.cache = InProcessCache()  # the restart: dedup keys and anything cached are gone
    try:
        run("token-2", {"next_cursor": "c2", "msg_list": [kf_msg("能开发票吗")]}, 2)
    finally:
        bot.cache = original

    syncs = [c.body for c in tencent.calls if c.path == "/cgi-bin/kf/sync_msg"]
    assert [(s["token"], s.get("cursor")) for s in syncs] == [("token-1", None), ("token-2", "c1")]
    sends = tencent.delivered(KF_SEND)
    assert [s.body["text"]["content"] for s in sends] == [INVOICE, INVOICE]
    assert stored_cursor(bot, kf) == "c2"


def stored_cursor(runtime: Runtime, open_kfid: str) -> str | None:
    with runtime.session_factory() as s:
        row = s.get(ChannelCursor, ("wecom_kf", open_kfid))
        return row.cursor if row is not None else None


def test_what_each_callback_needs_is_named_when_missing(
    client: TestClient, corp_crypt: MsgCrypt, tencent: TencentServer
) -> None:
    kf_without_token = payload.render(
        {
            "ToUserName": CORP["corp_id"],
            "CreateTime": int(time.time()),
            "MsgType": "event",
            "Event": "kf_msg_or_event",
            "OpenKfId": "wkAJ2GCAAA",
        }
    )
    resp = post(client, corp_crypt, kf_without_token)
    assert resp.status_code == 400 and resp.json()["error"]["details"]["missing"] == ["Token"]

    text_without_user = payload.render(
        {
            "ToUserName": CORP["corp_id"],
            "CreateTime": int(time.time()),
            "MsgType": "text",
            "Content": "在吗",
            "MsgId": uuid.uuid4().hex,
        }
    )
    resp = post(client, corp_crypt, text_without_user)
    assert resp.status_code == 400
    assert resp.json()["error"]["details"]["missing"] == ["FromUserName"]
    assert tencent.calls == []
