"""Images on WeChat and WeCom: downloaded by MediaId from a scripted Tencent media API on
loopback, read by the vision model, answered on the same channel: passively when quick,
``success`` then the send API when the vision step is slow, through message/send (WeCom
apps) and kf/send_msg (微信客服). Payloads have the documented shapes (wechatpy parses them)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from wechatpy import parse_message

from app.channels.tencent import payload
from app.channels.tencent.crypto import MsgCrypt
from tests.attachments.conftest import DESCRIPTION, Kefu, prompt_text, vl_image_urls
from tests.attachments.images import has_exif, photo
from tests.channels import tencent_client as wx
from tests.channels.conftest import CORP, CORP_KEY, OA, plain_mode, wait_idle
from tests.llm.scripted_server import text_reply

# Never fetched while the media API works (and refused if it were: a loopback address).
PIC_URL = "http://127.0.0.1:9/mmbiz/receipt.jpg"


def image_message(*, media_id: str, user: str, **extra: Any) -> str:
    return wx.message(
        "image",
        user=user,
        msg_id=str(uuid.uuid4().int % 10**19),
        PicUrl=PIC_URL,
        MediaId=media_id,
        **extra,
    )


def check_reading(kefu: Kefu, vl_seen: int, llm_seen: int, media_id: str) -> None:
    (url,) = vl_image_urls(kefu.vl)[vl_seen:]
    assert url.startswith("data:image/jpeg;base64,")
    assert DESCRIPTION in prompt_text(kefu.llm.chat_requests[llm_seen].json)
    fetched = [c for c in kefu.tencent.calls if c.path == "/cgi-bin/media/get"]
    assert fetched[-1].query["media_id"] == media_id and fetched[-1].result == 0


@pytest.fixture
def client(kefu: Kefu, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    kefu.tencent.reset()
    plain_mode(kefu.runtime, monkeypatch)
    return kefu.client


def test_wechat_image_is_answered_passively(kefu: Kefu, client: TestClient) -> None:
    openid = "o" + uuid.uuid4().hex[:27]
    kefu.tencent.media["media-1"] = photo()
    xml = image_message(media_id="media-1", user=openid)
    parsed = parse_message(xml)
    assert (parsed.type, parsed.media_id, parsed.image) == ("image", "media-1", PIC_URL)
    vl_seen, llm_seen = len(kefu.vl.chat_requests), len(kefu.llm.chat_requests)
    kefu.script_reading("您的图片显示订单 DD20261206-7788 配送失败 [1]。")
    resp = client.post("/channels/wechat", params=wx.plain_query(OA["token"]), content=xml)
    assert resp.status_code == 200 and resp.text != "success", resp.text
    reply = payload.parse(resp.content)
    assert reply["ToUserName"] == openid
    assert reply["Content"].startswith("您的图片显示订单 DD20261206-7788 配送失败 [1]。")
    check_reading(kefu, vl_seen, llm_seen, "media-1")


def test_wechat_slow_vision_answers_through_custom_send(
    kefu: Kefu, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kefu.runtime.settings.channels, "wechat_reply_budget", 0.5)
    openid = "o" + uuid.uuid4().hex[:27]
    kefu.tencent.media["media-2"] = photo(color=(0, 120, 0))
    vl_seen, llm_seen = len(kefu.vl.chat_requests), len(kefu.llm.chat_requests)
    kefu.vl.script(text_reply(DESCRIPTION, first_delay=1.5))
    kefu.llm.script(text_reply("您的图片里是订单页面 [1]。"))
    started = time.monotonic()
    xml = image_message(media_id="media-2", user=openid)
    resp = client.post("/channels/wechat", params=wx.plain_query(OA["token"]), content=xml)
    assert (resp.status_code, resp.text) == (200, "success")
    assert time.monotonic() - started < 1.5  # inside WeChat's 5 s, not waiting on the model
    wait_idle(client, kefu.tencent)
    (sent,) = kefu.tencent.delivered("/cgi-bin/message/custom/send")
    assert sent.body["touser"] == openid
    assert sent.body["text"]["content"].startswith("您的图片里是订单页面 [1]。")
    check_reading(kefu, vl_seen, llm_seen, "media-2")


def test_wecom_app_image_is_answered_through_message_send(kefu: Kefu, client: TestClient) -> None:
    crypt = MsgCrypt(token=CORP["token"], encoding_aes_key=CORP_KEY, receive_id=CORP["corp_id"])
    userid = "zhaoliu-" + uuid.uuid4().hex[:6]
    kefu.tencent.media["media-3"] = photo()
    xml = image_message(media_id="media-3", user=userid, AgentID=CORP["agent_id"]).replace(
        "gh_kefu", CORP["corp_id"]
    )
    vl_seen, llm_seen = len(kefu.vl.chat_requests), len(kefu.llm.chat_requests)
    kefu.script_reading("您的图片显示配送失败 [1]。")
    body, query = wx.sealed(crypt, xml, to=CORP["corp_id"])
    resp = client.post("/channels/wecom", params=query, content=body.encode())
    assert (resp.status_code, resp.text) == (200, "")
    kefu.tencent.wait_for(lambda: bool(kefu.tencent.delivered("/cgi-bin/message/send")))
    (sent,) = kefu.tencent.delivered("/cgi-bin/message/send")
    assert sent.body["touser"] == userid
    assert sent.body["text"]["content"].startswith("您的图片显示配送失败 [1]。")
    check_reading(kefu, vl_seen, llm_seen, "media-3")


def test_wecom_kf_image_is_answered_through_kf_send(kefu: Kefu, client: TestClient) -> None:
    crypt = MsgCrypt(token=CORP["token"], encoding_aes_key=CORP_KEY, receive_id=CORP["corp_id"])
    kf, customer = "wkIMG" + uuid.uuid4().hex[:6], "wmIMG" + uuid.uuid4().hex[:6]
    kefu.tencent.media["media-4"] = photo()
    kefu.tencent.kf_pages.append(
        {
            "msg_list": [
                {
                    "msgid": uuid.uuid4().hex,
                    "open_kfid": kf,
                    "external_userid": customer,
                    "send_time": int(time.time()),
                    "origin": 3,
                    "msgtype": "image",
                    "image": {"media_id": "media-4"},
                }
            ]
        }
    )
    vl_seen, llm_seen = len(kefu.vl.chat_requests), len(kefu.llm.chat_requests)
    kefu.script_reading("您的图片是一张订单截图 [1]。")
    event = wx.kf_event(token="kf-token-" + uuid.uuid4().hex[:6], open_kfid=kf, to=CORP["corp_id"])
    body, query = wx.sealed(crypt, event, to=CORP["corp_id"])
    assert client.post("/channels/wecom", params=query, content=body.encode()).status_code == 200
    kefu.tencent.wait_for(lambda: bool(kefu.tencent.delivered("/cgi-bin/kf/send_msg")))
    (sent,) = kefu.tencent.delivered("/cgi-bin/kf/send_msg")
    assert (sent.body["touser"], sent.body["open_kfid"]) == (customer, kf)
    assert sent.body["text"]["content"].startswith("您的图片是一张订单截图 [1]。")
    check_reading(kefu, vl_seen, llm_seen, "media-4")
    # The stored image is the re-encoded one.
    with kefu.runtime.session_factory() as s:
        from app.attachments.models import Attachment

        row = s.query(Attachment).order_by(Attachment.id.desc()).first()
        assert row is not None and row.channel == "wecom_kf"
        data = (kefu.runtime.settings.attachments_dir / row.path).read_bytes()
    assert not has_exif(data)
