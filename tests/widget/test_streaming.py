"""With an LLM endpoint configured, the widget shows the answer as it streams in, with the
citation marker the model wrote linked to its source, and a status line during tool calls."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from app.auth import service as auth_service
from app.auth.models import Role
from app.core.config import LLMSettings
from app.main import create_app
from tests.llm.scripted_server import (
    ScriptedServer,
    Stream,
    chunk,
    text_reply,
    tool_call_delta,
)
from tests.widget.conftest import FAQ, Server, build_runtime, host_server
from tests.widget.test_browser import CHROMIUM, HOST_PAGE, TIMEOUT_MS, ask, open_widget

POLICY = (
    "# 会员政策\n\n## 积分兑换\n\n每100积分可在结算时抵扣1元，单笔最多抵扣订单金额的30%。"
    "积分不能兑换现金，也不能转赠他人。\n\n## 等级\n\n年度消费满5000元升级为金卡会员。\n"
)
QUESTION = "积分抵扣有没有上限？最多能抵订单金额的多少？"
PIECES = ("每100积分可抵扣1元，", "单笔最多抵扣**订单金额的30%**", "。[1]")
FINAL = "每100积分可抵扣1元，单笔最多抵扣订单金额的30%。[1]"

# Collects every text the newest answer bubble shows, so the test can tell a streamed answer
# from one that appeared in one piece.
# Also what the log says about itself meanwhile (aria-busy), and every text the screen
# reader announcer is given.
RECORD_STATES = """() => {
  window.__states = [];
  window.__announced = [];
  const log = document.getElementById('kefu-log');
  new MutationObserver(() => {
    const bubbles = document.querySelectorAll('.msg-bot .bubble');
    const last = bubbles[bubbles.length - 1];
    if (last) window.__states.push([last.textContent, log.getAttribute('aria-busy')]);
  }).observe(log, {subtree: true, childList: true, characterData: true});
  const announcer = document.getElementById('kefu-announce');
  new MutationObserver(() => {
    if (announcer.textContent) window.__announced.push(announcer.textContent);
  }).observe(announcer, {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture(scope="module")
def chat_site(
    llm: ScriptedServer, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    for name in [n for n in os.environ if n.startswith("KEFU_LLM_")]:
        del os.environ[name]  # a developer's endpoint must not replace the scripted one
    settings = LLMSettings(
        _env_file=None,  # type: ignore[call-arg]
        base_url=llm.base_url,
        model=llm.model,
        max_retries=0,
        first_token_timeout=5.0,
        total_timeout=20.0,
    )
    runtime = build_runtime(
        tmp_path_factory.mktemp("widget-llm"),
        sqlite_template,
        {"faq.csv": FAQ, "members.md": POLICY},
        llm=settings,
    )
    httpd, host = host_server()
    with runtime.session_factory() as s:
        # The frame takes publishable keys only: one bound to the host page's origin.
        key = auth_service.create(
            db_session=s, name="dev", role=Role.CLIENT, allowed_origins=[host.url]
        )
        s.commit()
    try:
        with Server(create_app(runtime=runtime)) as kefu:
            host.pages["/"] = HOST_PAGE.format(kefu=kefu, key=key.secret, lang="zh")
            yield host.url + "/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        runtime.close()
        runtime.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


def test_the_answer_streams_in_with_its_citation(
    browser: Browser, chat_site: str, llm: ScriptedServer
) -> None:
    # A tool call first (the visitor is anonymous, so the tool answers login_required), then
    # the answer in three pieces, 0.4 s apart.
    args = json.dumps({})
    llm.script(
        Stream(
            [
                chunk({"role": "assistant", "content": ""}),
                tool_call_delta(0, call_id="call_1", name="get_membership", arguments=args),
                chunk({}, "tool_calls"),
            ],
            delay=0.3,
        ),
        text_reply(*PIECES, first_delay=0.4, delay=0.4),
    )
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(chat_site)
    frame = open_widget(page)
    frame_handle = next(f for f in page.frames if "/widget/frame" in f.url)
    frame_handle.evaluate(RECORD_STATES)

    ask(frame, QUESTION)
    answer = frame.locator(".msg-bot .bubble").last
    expect(answer).to_have_text(FINAL, timeout=TIMEOUT_MS)
    expect(answer.locator("strong")).to_have_text("订单金额的30%")
    marker = answer.locator("button.cite")  # the model's own [1], linked in place
    expect(marker).to_have_text("[1]")
    marker.click()
    expect(frame.locator(".msg-bot .sources li").last).to_contain_text("members.md")

    states: list[list[str]] = frame_handle.evaluate("() => window.__states")
    partial = [s for s in states if s[0].startswith(PIECES[0]) and "30%" not in s[0]]
    assert partial, f"the answer did not appear piece by piece: {states}"
    assert all(busy == "true" for _, busy in partial)
    # Read out once, whole, when it is finished: not piece by piece.
    expect(frame.locator("#kefu-announce")).to_have_text("小帆: " + FINAL)
    assert frame_handle.evaluate("() => window.__announced") == ["小帆: " + FINAL]
    expect(frame.locator("#kefu-log")).to_have_attribute("aria-busy", "false")
    assert llm.unused_replies == 0
    context.close()
