"""Whole conversations against the running app: kefu under uvicorn on 127.0.0.1, WeChat and
WeCom played over real HTTP (httpx), kefu's outbound calls going to the scripted Tencent
server. What TestClient cannot show: the routes, the lifespan that starts the channels, the
5-second budget and the background sends, all on a real server and a real socket."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.channels.tencent import payload
from app.channels.tencent.crypto import MsgCrypt, sha1_signature
from app.channels.tencent.state import TencentChannels
from app.channels.wechat.service import UNSUPPORTED, welcome
from app.conversation.models import Conversation, Message
from app.main import create_app
from app.runtime import Runtime
from tests.channels import tencent_client as wx
from tests.channels.conftest import CORP, OA, plain_mode
from tests.channels.tencent_server import TencentServer
from tests.widget.conftest import Server

INVOICE = "在订单详情页点击“申请发票”即可开具电子发票。"
ACCOUNT = "gh_kefu"


@dataclass(frozen=True)
class Live:
    url: str
    app: FastAPI

    @property
    def channels(self) -> TencentChannels:
        channels: TencentChannels = self.app.state.tencent_channels
        return channels


@pytest.fixture(scope="module")
def live(bot: Runtime) -> Iterator[Live]:
    app = create_app(runtime=bot)
    with Server(app) as url:
        yield Live(url=url, app=app)


@pytest.fixture
def http(live: Live, tencent: TencentServer) -> Iterator[httpx.Client]:
    tencent.reset()
    with httpx.Client(base_url=live.url, timeout=10) as client:
        yield client


def wait_idle(live: Live, tencent: TencentServer) -> None:
    tencent.wait_for(lambda: live.channels.pending == 0, timeout=30, what="idle channels")


class WeChat:
    """The Official Account platform as kefu sees it, in plain or safe mode."""

    def __init__(self, http: httpx.Client, crypt: MsgCrypt, *, safe: bool) -> None:
        self.http, self.crypt, self.safe = http, crypt, safe

    def request(self, xml: str) -> tuple[dict[str, str], bytes]:
        if not self.safe:
            return wx.plain_query(OA["token"]), xml.encode()
        body, query = wx.sealed(self.crypt, xml, to=ACCOUNT)
        # Safe mode also carries the plain signature and the sender's openid in the URL.
        plain = sha1_signature(OA["token"], query["timestamp"], query["nonce"])
        openid = payload.parse(xml.encode())["FromUserName"]
        return {**query, "signature": plain, "openid": openid, "encrypt_type": "aes"}, body.encode()

    def post(self, params: dict[str, str], body: bytes) -> str | None:
        """The passive reply's text, or None for ``success``."""
        resp = self.http.post(
            "/channels/wechat", params=params, content=body, headers={"content-type": "text/xml"}
        )
        assert resp.status_code == 200, resp.text
        if resp.content == b"success":
            return None
        if self.safe:
            assert b"<Encrypt>" in resp.content and "<Content>" not in resp.text
            envelope = payload.parse(resp.content)
            assert abs(int(envelope["TimeStamp"]) - time.time()) < 60
            reply = wx.open_reply(self.crypt, resp.content)  # checks MsgSignature first
        else:
            reply = payload.parse(resp.content)
        assert reply["MsgType"] == "text" and reply["FromUserName"] == ACCOUNT
        return reply["Content"]

    def say(self, xml: str) -> str | None:
        return self.post(*self.request(xml))


def user_messages(runtime: Runtime, external_user_id: str) -> list[tuple[str, str]]:
    with runtime.session_factory() as s:
        conv = s.scalars(
            select(Conversation).where(Conversation.external_user_id == external_user_id)
        ).one()
        rows = s.execute(
            select(Message.role, Message.content)
            .where(Message.conversation_id == conv.id)
            .order_by(Message.id)
        ).all()
    return [(role.value, content) for role, content in rows]


@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_wechat_conversation(
    live: Live,
    http: httpx.Client,
    bot: Runtime,
    tencent: TencentServer,
    oa_crypt: MsgCrypt,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    if mode == "plain":
        plain_mode(bot, monkeypatch)
    wechat = WeChat(http, oa_crypt, safe=mode == "safe")
    openid = "o" + uuid.uuid4().hex[:27]

    # 提交 in the console: the signed GET (plain in every mode), echoed back as is.
    check = http.get("/channels/wechat", params={**wx.plain_query(OA["token"]), "echostr": "77"})
    assert (check.status_code, check.text) == (200, "77")

    assert wechat.say(wx.event_message("subscribe", user=openid)) == welcome(bot.settings)
    question = wx.text_message("怎么开发票", user=openid, msg_id=str(uuid.uuid4().int % 10**19))
    assert wechat.say(question) == INVOICE
    follow_up = wx.text_message("谢谢", user=openid, msg_id=str(uuid.uuid4().int % 10**19))
    params, body = wechat.request(follow_up)
    thanks = wechat.post(params, body)
    assert thanks is not None and "不客气" in thanks

    # WeChat's retries of the follow-up (the same request again, and the message re-signed)
    # come only when it did not get the response: the same answer, not a second one.
    assert wechat.post(params, body) == thanks
    assert wechat.say(follow_up) == thanks

    msg_ids = (str(uuid.uuid4().int % 10**19) for _ in range(2))
    voice = wx.message(
        "voice", user=openid, to=ACCOUNT, msg_id=next(msg_ids), MediaId="media-1", Format="amr"
    )
    location = wx.message(
        "location",
        user=openid,
        to=ACCOUNT,
        msg_id=next(msg_ids),
        Location_X="23.134521",
        Location_Y="113.358803",
        Scale="20",
        Label="广州市天河区",
    )
    assert wechat.say(voice) == UNSUPPORTED
    assert wechat.say(location) == UNSUPPORTED

    wait_idle(live, tencent)
    assert user_messages(bot, openid) == [
        ("user", "怎么开发票"),
        ("assistant", INVOICE),
        ("user", "谢谢"),
        ("assistant", thanks),
    ]
    assert tencent.calls == []  # every answer was passive: no token, no custom/send


def test_wecom_conversation(
    live: Live, http: httpx.Client, bot: Runtime, tencent: TencentServer, corp_crypt: MsgCrypt
) -> None:
    userid = "qianqi-" + uuid.uuid4().hex[:6]

    ts, nonce = wx.now(), wx.nonce()
    echostr, sig = corp_crypt.seal("1616140317555161061", timestamp=ts, nonce=nonce)
    check = http.get(
        "/channels/wecom",
        params={"msg_signature": sig, "timestamp": ts, "nonce": nonce, "echostr": echostr},
    )
    assert (check.status_code, check.text) == (200, "1616140317555161061")

    def post(xml: str) -> None:
        body, query = wx.sealed(corp_crypt, xml, to=CORP["corp_id"])
        resp = http.post("/channels/wecom", params=query, content=body.encode())
        assert (resp.status_code, resp.text) == (200, "")

    def app_message(content: str) -> str:
        return payload.render(
            {
                "ToUserName": CORP["corp_id"],
                "FromUserName": userid,
                "CreateTime": int(time.time()),
                "MsgType": "text",
                "Content": content,
                "MsgId": uuid.uuid4().hex,
                "AgentID": int(CORP["agent_id"]),
            }
        )

    def contents() -> list[str]:
        return [c.body["text"]["content"] for c in tencent.delivered("/cgi-bin/message/send")]

    subscribe = wx.event_message(
        "subscribe", user=userid, to=CORP["corp_id"], AgentID=CORP["agent_id"]
    )
    post(subscribe)
    tencent.wait_for(lambda: len(contents()) >= 1, what="the welcome")
    question = app_message("怎么开发票")
    for _ in range(2):  # WeCom retries the message: one answer
        post(question)
    tencent.wait_for(lambda: len(contents()) >= 2, what="the answer")
    wait_idle(live, tencent)

    assert contents() == [welcome(bot.settings), INVOICE]
    sends = tencent.delivered("/cgi-bin/message/send")
    assert {(s.body["touser"], s.body["agentid"]) for s in sends} == {(userid, 1000002)}
    assert tencent.token_fetches == 1
    assert user_messages(bot, userid) == [("user", "怎么开发票"), ("assistant", INVOICE)]
