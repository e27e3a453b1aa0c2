"""Citations on text-only channels: the [n] markers stay, and the answer ends with the sources
it marks; on WeChat's passive reply, through custom/send (split under the byte limit) and on
WeCom's message/send. The turn is scripted so the citations are exactly the ones under test."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from fastapi.testclient import TestClient

from app.channels.tencent import payload
from app.channels.tencent.callback import MAX_TEXT_BYTES, split_text
from app.channels.tencent.crypto import MsgCrypt
from app.channels.tencent.sources import MAX_LABEL_CHARS, footer, with_sources
from app.channels.tencent.state import TurnRunner
from app.conversation.schemas import Citation, TurnOutcome, TurnRequest
from app.runtime import Runtime
from tests.channels import tencent_client as wx
from tests.channels.conftest import CORP, OA, channels_of, wait_idle
from tests.channels.tencent_server import TencentServer

POINTS = Citation(
    n=1,
    source="members.md",
    document_id=1,
    chunk_id="c1",
    heading_path=("会员政策", "积分兑换"),
)
LEVELS = Citation(
    n=2, source="members.md", document_id=1, chunk_id="c2", heading_path=("会员政策", "等级")
)
INVOICE_FAQ = Citation(
    n=3, source="faq.csv", document_id=2, chunk_id="c3", heading_path=("FAQ",), kind="faq"
)
REMOTE = Citation(
    n=1,
    source="shipping.md",
    document_id=3,
    chunk_id="c4",
    heading_path=("Shipping guide", "Remote areas"),
)
ZH_ANSWER = "每100积分可抵扣1元[1]，单笔最多抵扣订单金额的30%[1]；发票在订单详情页申请【3】。"
ZH_SOURCES = "参考：\n[1] members.md › 会员政策 › 积分兑换\n[3] faq.csv › FAQ"


def test_only_the_marked_citations_are_listed_once_each() -> None:
    # LEVELS is retrieved but not cited; POINTS comes twice (a replayed turn repeats them).
    cited = [POINTS, LEVELS, INVOICE_FAQ, POINTS]
    assert with_sources(ZH_ANSWER, cited) == f"{ZH_ANSWER}\n\n{ZH_SOURCES}"


def test_answers_without_markers_are_left_alone() -> None:
    # The FAQ route and the quoted passage name their source in the text and mark nothing.
    assert with_sources("在订单详情页点击“申请发票”即可开具电子发票。", [INVOICE_FAQ]) == (
        "在订单详情页点击“申请发票”即可开具电子发票。"
    )
    assert footer("满5000元升级为金卡会员[7]。", [POINTS, LEVELS]) == ""  # no passage 7
    assert with_sources("", [POINTS]) == ""  # a human holds the conversation


def test_one_source_on_one_line_in_the_answers_language() -> None:
    english = "Parcels to Tibet take 5-8 working days [1]."
    assert footer(english, [REMOTE]) == "Sources: [1] shipping.md › Shipping guide › Remote areas"
    assert footer("积分最多抵扣30%[1]。", [POINTS]) == "参考：[1] members.md › 会员政策 › 积分兑换"


def test_passages_of_one_section_share_a_line() -> None:
    untitled = Citation(n=2, source="members.md", document_id=1, chunk_id="c9")
    same_section = dataclasses.replace(POINTS, n=3, chunk_id="c5")
    text = footer("积分[1][2]，上限[1, 3]。", [POINTS, untitled, same_section])
    assert text == "参考：\n[1][3] members.md › 会员政策 › 积分兑换\n[2] members.md"


def test_pages_and_long_headings() -> None:
    paged = Citation(
        n=1, source="tariff.pdf", document_id=4, chunk_id="c6", heading_path=("资费",), page=3
    )
    assert footer("月租39元[1]。", [paged]) == "参考：[1] tariff.pdf › 资费（第3页）"
    assert footer("It costs 39 yuan [1].", [paged]) == "Sources: [1] tariff.pdf › 资费 (p. 3)"
    deep = Citation(
        n=1, source="handbook.md", document_id=5, chunk_id="c7", heading_path=("章节" * 40,)
    )
    line = footer("见手册[1]。", [deep]).removeprefix("参考：[1] ")
    assert len(line) == MAX_LABEL_CHARS and line.startswith("handbook.md › 章节")
    assert line.endswith("章…")


def scripted(outcome: TurnOutcome) -> TurnRunner:
    async def run(runtime: Runtime, req: TurnRequest) -> TurnOutcome:
        return outcome

    return run


def openid() -> str:
    return "o" + uuid.uuid4().hex[:27]


def msg_id() -> str:
    return str(uuid.uuid4().int % 10**19)


def test_wechat_passive_reply_carries_the_sources(client: TestClient, plain: None) -> None:
    channels_of(client).run_turn = scripted(
        TurnOutcome(answer=ZH_ANSWER, citations=[POINTS, LEVELS, INVOICE_FAQ])
    )
    xml = wx.text_message("积分最多抵多少？发票怎么开？", user=openid(), msg_id=msg_id())
    resp = client.post("/channels/wechat", params=wx.plain_query(OA["token"]), content=xml)
    assert resp.status_code == 200
    assert payload.parse(resp.content)["Content"] == f"{ZH_ANSWER}\n\n{ZH_SOURCES}"


def test_wechat_safe_mode_reply_carries_the_sources(client: TestClient, oa_crypt: MsgCrypt) -> None:
    answer = "Parcels to Tibet take 5-8 working days and cost 20 yuan extra [1]."
    channels_of(client).run_turn = scripted(TurnOutcome(answer=answer, citations=[REMOTE]))
    xml = wx.text_message("How long to Tibet?", user=openid(), msg_id=msg_id())
    body, query = wx.sealed(oa_crypt, xml, to="gh_kefu")
    resp = client.post("/channels/wechat", params={**query, "encrypt_type": "aes"}, content=body)
    assert wx.open_reply(oa_crypt, resp.content)["Content"] == (
        f"{answer}\n\nSources: [1] shipping.md › Shipping guide › Remote areas"
    )


@pytest.mark.parametrize("size", ["at the limit", "several messages"])
def test_custom_send_pieces_stay_under_the_limit(
    client: TestClient, tencent: TencentServer, plain: None, size: str
) -> None:
    """An answer that fits one message alone but not with its sources cannot be passive; a
    long one is split; either way every piece fits and the sources close the last one."""
    sentence = "积分可以在结算时抵扣现金，每100积分抵扣1元。"
    if size == "at the limit":
        base = sentence * (MAX_TEXT_BYTES // len(sentence.encode()) - 1)
        answer = base + "a" * (MAX_TEXT_BYTES - len(base.encode()) - 3) + "[1]"
        assert len(answer.encode()) == MAX_TEXT_BYTES  # alone, it would be a passive reply
    else:
        answer = "\n".join(f"{i}. {sentence * 6}[{1 + i % 2}]" for i in range(12))
    channels_of(client).run_turn = scripted(TurnOutcome(answer=answer, citations=[POINTS, LEVELS]))
    user = openid()
    xml = wx.text_message("积分怎么用？", user=user, msg_id=msg_id())
    resp = client.post("/channels/wechat", params=wx.plain_query(OA["token"]), content=xml)
    assert (resp.status_code, resp.content) == (200, b"success")
    expected = split_text(with_sources(answer, [POINTS, LEVELS]))
    tencent.wait_for(lambda: len(tencent.delivered()) >= len(expected), what="custom/send")
    wait_idle(client, tencent)
    pieces = [c.body["text"]["content"] for c in tencent.delivered()]
    assert pieces == expected and len(pieces) >= 2
    assert all(len(p.encode()) <= MAX_TEXT_BYTES for p in pieces)
    assert {c.body["touser"] for c in tencent.delivered()} == {user}
    sources = footer(answer, [POINTS, LEVELS])
    assert pieces[-1].endswith(sources) and sum(p.count("参考：") for p in pieces) == 1
    if size == "at the limit":
        assert pieces == [answer, sources]


def test_wecom_message_send_carries_the_sources(
    client: TestClient, corp_crypt: MsgCrypt, tencent: TencentServer
) -> None:
    channels_of(client).run_turn = scripted(
        TurnOutcome(answer=ZH_ANSWER, citations=[POINTS, LEVELS, INVOICE_FAQ])
    )
    xml = payload.render(
        {
            "ToUserName": CORP["corp_id"],
            "FromUserName": "zhaoliu",
            "CreateTime": int(wx.now()),
            "MsgType": "text",
            "Content": "积分最多抵多少？",
            "MsgId": uuid.uuid4().hex,
            "AgentID": int(CORP["agent_id"]),
        }
    )
    body, query = wx.sealed(corp_crypt, xml, to=CORP["corp_id"])
    assert client.post("/channels/wecom", params=query, content=body).status_code == 200
    tencent.wait_for(lambda: len(tencent.delivered()) >= 1, what="message/send")
    wait_idle(client, tencent)
    [send] = tencent.delivered("/cgi-bin/message/send")
    assert send.body["touser"] == "zhaoliu"
    assert send.body["text"]["content"] == f"{ZH_ANSWER}\n\n{ZH_SOURCES}"
