"""WeChat and WeCom as a third party builds and reads them: wechatpy's WXBizMsgCrypt
implementation seals the callbacks and opens kefu's replies, wechatpy's ``parse_message``
reads them, and the bodies are the shapes of Tencent's documentation, not our helpers'."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid

from fastapi.testclient import TestClient
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from tests.channels.conftest import CORP, CORP_KEY, OA, OA_KEY, wait_idle
from tests.channels.tencent_server import TencentServer

INVOICE = "在订单详情页点击“申请发票”即可开具电子发票。"


def _query(crypto: WeChatCrypto | WeComCrypto, xml: str) -> tuple[str, dict[str, str]]:
    """Seal ``xml`` as Tencent does and keep only what it sends: the Encrypt element in the
    body, the signature, timestamp and nonce in the URL."""
    nonce, ts = str(secrets.randbelow(10**9)), str(int(time.time()))
    sealed = parse_message_envelope(crypto.encrypt_message(xml, nonce, ts))
    return sealed["Encrypt"], {
        "msg_signature": sealed["MsgSignature"],
        "timestamp": ts,
        "nonce": nonce,
    }


def parse_message_envelope(xml: str) -> dict[str, str]:
    import xmltodict  # wechatpy's own XML reader

    envelope: dict[str, str] = xmltodict.parse(xml)["xml"]
    return envelope


def test_wechat_safe_mode_reply_opens_with_wechatpy(client: TestClient) -> None:
    openid = "o" + uuid.uuid4().hex[:27]
    crypto = WeChatCrypto(OA["token"], OA_KEY, OA["app_id"])
    # The text message of the Official Account documentation (接收普通消息), with our values.
    xml = (
        "<xml><ToUserName><![CDATA[gh_kefu]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[能开发票吗]]></Content>"
        f"<MsgId>{uuid.uuid4().int % 10**19}</MsgId></xml>"
    )
    encrypted, query = _query(crypto, xml)
    body = (
        "<xml><ToUserName><![CDATA[gh_kefu]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    )
    resp = client.post(
        "/channels/wechat", params={**query, "encrypt_type": "aes"}, content=body.encode()
    )
    assert resp.status_code == 200, resp.text

    envelope = parse_message_envelope(resp.text)
    plain = crypto.decrypt_message(
        resp.text, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
    )
    reply = parse_message(plain)
    assert reply.type == "text"
    assert (reply.source, reply.target) == ("gh_kefu", openid)  # from the account, to the user
    assert reply.content == INVOICE


def test_wechat_plain_mode_reply_parses_with_wechatpy(client: TestClient, plain: None) -> None:
    openid = "o" + uuid.uuid4().hex[:27]
    nonce, ts = str(secrets.randbelow(10**9)), str(int(time.time()))
    signature = hashlib.sha1("".join(sorted([OA["token"], ts, nonce])).encode()).hexdigest()
    check_signature(OA["token"], signature, ts, nonce)  # the query wechatpy would accept
    reply_in = TextReply(source=openid, target="gh_kefu", content="怎么开发票")
    question = reply_in.render().replace(
        "</xml>", f"<MsgId>{uuid.uuid4().int % 10**19}</MsgId></xml>"
    )
    resp = client.post(
        "/channels/wechat",
        params={"signature": signature, "timestamp": ts, "nonce": nonce},
        content=question.encode(),
    )
    assert resp.status_code == 200, resp.text
    reply = parse_message(resp.text)
    assert (reply.type, reply.content) == ("text", INVOICE)


def test_wecom_url_verification_echostr_sealed_by_wechatpy(client: TestClient) -> None:
    crypto = WeComCrypto(CORP["token"], CORP_KEY, CORP["corp_id"])
    echo, query = _query(crypto, "8844-" + uuid.uuid4().hex)
    resp = client.get("/channels/wecom", params={**query, "echostr": echo})
    assert resp.status_code == 200 and resp.text.startswith("8844-")


def test_wecom_kf_msg_or_event_as_documented_is_followed_by_sync_msg(
    client: TestClient, tencent: TencentServer
) -> None:
    kf, customer = "wk" + uuid.uuid4().hex[:10], "wm" + uuid.uuid4().hex[:10]
    token = "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR" + uuid.uuid4().hex[:6]
    tencent.kf_pages.append(
        {
            "next_cursor": "4gw7MepFLfgF2VC5npN",
            "has_more": 0,
            "msg_list": [
                {
                    "msgid": uuid.uuid4().hex,
                    "open_kfid": kf,
                    "external_userid": customer,
                    "send_time": int(time.time()),
                    "origin": 3,
                    "msgtype": "text",
                    "text": {"content": "怎么开发票"},
                }
            ],
        }
    )
    # 微信客服 "接收消息和事件" (kf_msg_or_event): no FromUserName, the account and a Token.
    xml = (
        f"<xml><ToUserName><![CDATA[{CORP['corp_id']}]]></ToUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[kf_msg_or_event]]></Event>"
        f"<Token><![CDATA[{token}]]></Token>"
        f"<OpenKfId><![CDATA[{kf}]]></OpenKfId></xml>"
    )
    crypto = WeComCrypto(CORP["token"], CORP_KEY, CORP["corp_id"])
    encrypted, query = _query(crypto, xml)
    body = (
        f"<xml><ToUserName><![CDATA[{CORP['corp_id']}]]></ToUserName>"
        f"<AgentID><![CDATA[]]></AgentID><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    )
    resp = client.post("/channels/wecom", params=query, content=body.encode())
    assert resp.status_code == 200, resp.text

    tencent.wait_for(lambda: len(tencent.delivered("/cgi-bin/kf/send_msg")) >= 1, what="kf")
    wait_idle(client, tencent)
    syncs = [c.body for c in tencent.calls if c.path == "/cgi-bin/kf/sync_msg"]
    assert [(s["token"], s["open_kfid"]) for s in syncs] == [(token, kf)]
    [send] = tencent.delivered("/cgi-bin/kf/send_msg")
    assert (send.body["touser"], send.body["open_kfid"]) == (customer, kf)
    assert send.body["text"]["content"] == INVOICE

    # The same callback again (Tencent's retry) starts no second sync.
    resp = client.post("/channels/wecom", params=query, content=body.encode())
    assert resp.status_code == 200
    wait_idle(client, tencent)
    assert len([c for c in tencent.calls if c.path == "/cgi-bin/kf/sync_msg"]) == 1
