"""The 5-second rule with a real slow LLM: the scripted OpenAI-protocol server takes 8 s to
its first token; WeChat still gets ``success`` within the budget, retries get ``success``,
and the answer arrives once through the scripted customer-service API."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.core.config import LLMSettings
from app.main import create_app
from app.runtime import Runtime
from tests.channels import tencent_client as wx
from tests.channels.conftest import OA, build_bot, close_bot, plain_mode, wait_idle
from tests.channels.tencent_server import TencentServer
from tests.llm.scripted_server import ScriptedServer, text_reply

ANSWER = "每100积分可抵扣1元，单笔最多抵扣订单金额的30%[1]。"


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


def test_slow_llm_answer_arrives_once_through_custom_send(
    llm_bot: Runtime,
    tencent: TencentServer,
    scripted_llm: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tencent.reset()
    plain_mode(llm_bot, monkeypatch)
    scripted_llm.script(text_reply(*ANSWER, first_delay=8.0))
    openid = "o" + uuid.uuid4().hex[:27]
    xml = wx.text_message(
        "积分抵扣有没有上限？最多能抵订单金额的多少？", user=openid, msg_id=str(uuid.uuid4().int)
    )
    budget = llm_bot.settings.channels.wechat_reply_budget
    with TestClient(create_app(runtime=llm_bot)) as client:
        started = time.monotonic()
        first = client.post("/channels/wechat", params=wx.plain_query(OA["token"]), content=xml)
        elapsed = time.monotonic() - started
        assert (first.status_code, first.text) == (200, "success")
        assert budget - 0.5 < elapsed < 4.5  # waited for the answer, then gave up in time
        for _ in range(3):  # WeChat's retries, each answered at once
            retry = client.post("/channels/wechat", params=wx.plain_query(OA["token"]), content=xml)
            assert (retry.status_code, retry.text) == (200, "success")
        assert tencent.sends() == []
        tencent.wait_for(lambda: len(tencent.sends()) >= 1, timeout=30, what="custom/send")
        wait_idle(client, tencent)
    [send] = tencent.sends()
    assert send.path == "/cgi-bin/message/custom/send" and send.result == 0
    assert send.body["touser"] == openid and "30%" in send.body["text"]["content"]
    assert len(scripted_llm.chat_requests) == 1  # the retries never reached the LLM
