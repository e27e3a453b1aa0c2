"""The 5-second rule with a real slow LLM: the scripted OpenAI-protocol server takes longer
than WeChat's 5 seconds to its first token; WeChat still gets ``success`` within the budget,
retries get ``success``, and the LLM's answer, with its sources, arrives once through the
scripted customer-service API. In plain mode with the in-process cache, and in safe mode with
dedup in Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.channels.tencent.crypto import MsgCrypt
from app.core.config import LLMSettings
from app.main import create_app
from app.runtime import Runtime
from tests.channels import tencent_client as wx
from tests.channels.conftest import OA, build_bot, cache_of, close_bot, plain_mode, wait_idle
from tests.channels.tencent_server import TencentServer
from tests.llm.scripted_server import ScriptedServer, text_reply

ANSWER = "每100积分可抵扣1元，单笔最多抵扣订单金额的30%[1]。"
# The passage the answer cites is the policy section the question retrieves first.
DELIVERED = ANSWER + "\n\n参考：[1] members.md › 会员政策 › 积分兑换"
FIRST_TOKEN_DELAY = 8.0  # the slow LLM: past WeChat's 5 s, only custom/send can deliver it


@pytest.fixture(scope="module")
def scripted_llm() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture(scope="module")
def llm_bot(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    tencent: TencentServer,
    scripted_llm: ScriptedServer,
) -> Iterator[Runtime]:
    llm = LLMSettings(
        _env_file=None,  # type: ignore[call-arg]
        base_url=scripted_llm.base_url,
        model=scripted_llm.model,
        max_retries=0,
    )
    runtime = build_bot(tmp_path_factory.mktemp("llm-bot"), sqlite_template, tencent, llm=llm)
    yield runtime
    close_bot(runtime)


@pytest.mark.parametrize(("mode", "cache"), [("plain", "in-process"), ("safe", "redis")])
def test_slow_llm_answer_arrives_once_through_custom_send(
    llm_bot: Runtime,
    tencent: TencentServer,
    scripted_llm: ScriptedServer,
    oa_crypt: MsgCrypt,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    cache: str,
) -> None:
    tencent.reset()
    if mode == "plain":
        plain_mode(llm_bot, monkeypatch)
    scripted_llm.script(text_reply(*ANSWER, first_delay=FIRST_TOKEN_DELAY))
    asked = len(scripted_llm.chat_requests)
    openid = "o" + uuid.uuid4().hex[:27]
    xml = wx.text_message(
        "积分抵扣有没有上限？最多能抵订单金额的多少？", user=openid, msg_id=str(uuid.uuid4().int)
    )

    def request() -> tuple[dict[str, str], str]:
        if mode == "plain":
            return wx.plain_query(OA["token"]), xml
        body, query = wx.sealed(oa_crypt, xml, to="gh_kefu")
        return {**query, "encrypt_type": "aes"}, body

    budget = llm_bot.settings.channels.wechat_reply_budget
    with cache_of(llm_bot, cache), TestClient(create_app(runtime=llm_bot)) as client:
        params, content = request()
        started = time.monotonic()
        first = client.post("/channels/wechat", params=params, content=content)
        elapsed = time.monotonic() - started
        assert (first.status_code, first.text) == (200, "success")
        assert budget - 0.5 < elapsed < 4.5  # waited for the answer, then gave up in time
        # WeChat's retries, the first request repeated, then new ones: each answered
        # "success" (after waiting, within its budget, on the first attempt's live lease).
        for retry_params, retry_content in [(params, content), request(), request()]:
            retry = client.post("/channels/wechat", params=retry_params, content=retry_content)
            assert (retry.status_code, retry.text) == (200, "success")
        tencent.wait_for(lambda: len(tencent.sends()) >= 1, timeout=30, what="custom/send")
        wait_idle(client, tencent)
    [send] = tencent.sends()
    assert send.path == "/cgi-bin/message/custom/send" and send.result == 0
    assert send.body == {"touser": openid, "msgtype": "text", "text": {"content": DELIVERED}}
    assert len(scripted_llm.chat_requests) == asked + 1  # the retries never reached the LLM
    assert scripted_llm.unused_replies == 0
