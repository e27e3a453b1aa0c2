"""The console in a real browser (Debian's Chromium) beside the widget: a customer asks for
a person; an agent signed in to the console sees it arrive live, claims it and replies; the
customer sees the reply under the agent's display name, and their photo reaches the agent's
chat live; a second agent cannot take it;
release gives the customer back to the bot. And the conversations page shows a turn's
passages and tool calls (a turn answered through a scripted OpenAI-protocol LLM), and the
customer's image as a thumbnail that opens the full size by keyboard.

One browser, one kefu server and one scripted LLM for the module."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from app.attachments import service as attachment_service
from app.attachments.intake import clean
from app.auth import service as auth_service
from app.auth.models import Role
from app.console import service as console_service
from app.console.models import ConsoleRole
from app.conversation.models import Message, MessageRole
from app.core.config import LLMSettings
from app.customers.demo import load_demo
from app.handoff import canned
from app.main import create_app
from app.runtime import Runtime
from app.widget import identity
from tests.agent.conftest import tool_reply
from tests.attachments.images import photo
from tests.llm.scripted_server import ScriptedServer, text_reply
from tests.widget.conftest import (
    ARTIFACTS,
    FAQ,
    FAQ_ANSWER_TEXT,
    FAQ_QUESTION,
    HostSite,
    Server,
    build_runtime,
)
from tests.widget.test_browser import HOST_PAGE, ask, open_widget
from tests.widget.test_browser import browser as browser  # one Chromium per module

TIMEOUT_MS = 30_000  # a loaded CI machine: the first turn also embeds the router's exemplars
SHOTS = ARTIFACTS / "console"
PASSWORD = "correct horse battery"
BILLING = "# 账单说明\n\n## 流量超额\n\n超出套餐的流量按每GB 5元计费，计入次月账单。\n"
GREETING = "您好，我是人工客服，请问有什么可以帮您？"
LOADED = "img => img.complete && img.naturalWidth > 0"
expect.set_options(timeout=TIMEOUT_MS)


@dataclass(frozen=True)
class Kefu:
    url: str
    runtime: Runtime
    llm: ScriptedServer
    widget_key: str
    widget_key_id: int


@pytest.fixture(scope="module")
def kefu(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory, host_site: HostSite
) -> Iterator[Kefu]:
    with ScriptedServer() as llm:
        runtime = build_runtime(
            tmp_path_factory.mktemp("console"),
            sqlite_template,
            {"faq.csv": FAQ, "billing.md": BILLING},
            llm=LLMSettings(
                _env_file=None,  # type: ignore[call-arg]
                base_url=llm.base_url,
                model=llm.model,
                max_retries=0,
                first_token_timeout=5.0,
                total_timeout=20.0,
            ),
        )
        with runtime.session_factory() as s:
            load_demo(db_session=s)
            for name, role, shown in (
                ("ada", ConsoleRole.ADMIN, "Ada"),
                ("amy", ConsoleRole.AGENT, "Amy Lin"),
                ("ben", ConsoleRole.AGENT, "Ben"),
            ):
                console_service.create(
                    db_session=s, name=name, role=role, display_name=shown, password=PASSWORD
                )
            canned.create(db_session=s, title="问候", text=GREETING, author="ada")
            key = auth_service.create(
                db_session=s, name="shop", role=Role.CLIENT, allowed_origins=[host_site.url]
            )
            s.commit()
        with Server(create_app(runtime=runtime)) as url:
            yield Kefu(url, runtime, llm, key.secret, key.key.id)
        runtime.close()


@pytest.fixture
def shop(kefu: Kefu, host_site: HostSite) -> str:
    """The shop's page with the widget, its visitor signed in as demo customer C10001."""
    secret = identity.signing_secret(
        kefu.runtime.settings.secret_key.get_secret_value(), kefu.widget_key_id
    )
    host_site.pages["/console-shop"] = HOST_PAGE.format(
        kefu=kefu.url, key=kefu.widget_key, lang="en"
    ).replace(
        "async></script>", f'data-identity="{identity.sign(secret, "C10001")}" async></script>'
    )
    return host_site.url + "/console-shop"


def context(browser: Browser) -> BrowserContext:
    ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    return ctx


def sign_in(ctx: BrowserContext, kefu: Kefu, name: str, then: str, errors: list[str]) -> Page:
    """Through the sign-in form, as a person does; script errors on the page go to ``errors``."""
    page = ctx.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{kefu.url}/console/login")
    page.locator("input[name=name]").fill(name)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    expect(page.locator(".who")).to_contain_text(name.capitalize())
    page.goto(f"{kefu.url}{then}")
    return page


def test_agent_takes_a_customer_live_and_hands_them_back(
    browser: Browser, kefu: Kefu, shop: str
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    amy_ctx, ben_ctx, customer_ctx = context(browser), context(browser), context(browser)
    errors: list[str] = []
    amy = sign_in(amy_ctx, kefu, "amy", "/console/handoff", errors)
    ben = sign_in(ben_ctx, kefu, "ben", "/console/handoff", errors)
    for agent in (amy, ben):
        expect(agent.locator("#feed-state")).to_have_attribute("data-live", "true")
    expect(amy.locator("#queue li[data-conversation]")).to_have_count(0)

    customer = customer_ctx.new_page()
    customer.goto(shop)
    frame = open_widget(customer)
    ask(frame, "I want a human")
    expect(frame.locator("#kefu-status")).to_have_text("Connecting you to a support agent…")

    # It reaches both consoles without a reload, with a badge in the title.
    waiting = amy.locator("#queue li[data-conversation]").filter(has_text="I want a human")
    expect(waiting).to_have_attribute("data-status", "awaiting_human")
    expect(amy).to_have_title(re.compile(r"^\(1\) "))
    expect(ben.locator("#queue li").filter(has_text="I want a human")).to_have_count(1)

    waiting.locator("button").click()
    expect(amy.locator("#chat-log .msg-user .text")).to_have_text(["I want a human"])
    expect(amy).not_to_have_title(re.compile(r"^\("))
    # The customer's records from the business data, beside the chat.
    expect(amy.locator("#customer .customer-id")).to_have_text("C10001")
    expect(amy.locator("#customer")).to_contain_text("2026-10")
    ben.locator("#queue li").filter(has_text="I want a human").locator("button").click()
    expect(ben.locator("#claim")).to_be_enabled()

    amy.locator("#claim").click()
    expect(amy.locator("#chat-status")).to_have_text("由你接待")
    expect(frame.locator("#kefu-status")).to_have_text("A support agent has joined")
    # Ben's console learns it is taken; a claim from his session anyway is refused.
    expect(ben.locator("#chat-status")).to_contain_text("amy")
    expect(ben.locator("#claim")).to_be_disabled()
    expect(ben.locator("#reply-text")).to_be_disabled()
    refused = ben.evaluate(
        """async (id) => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const r = await fetch(`/console/handoff/conversations/${id}/claim`,
                {method: "POST", headers: {"X-CSRF-Token": token}});
            return [r.status, (await r.json()).error.code];
        }""",
        amy.locator("#queue li[aria-current=true]").get_attribute("data-conversation"),
    )
    assert refused == [409, "already_claimed"]

    # A canned reply, by keyboard, then sent with Ctrl+Enter.
    amy.locator("#canned-select").select_option(label="问候")
    amy.locator("#canned-insert").press("Enter")
    expect(amy.locator("#reply-text")).to_have_value(GREETING)
    amy.locator("#reply-text").press("Control+Enter")
    expect(amy.locator("#chat-log .msg-agent .text")).to_have_text([GREETING])
    expect(frame.locator(".msg-agent .bubble")).to_have_text(GREETING)
    expect(frame.locator(".msg-agent .who")).to_have_text("Support agent Amy Lin")

    # A photo with the next message reaches the open chat live, as a thumbnail that loads.
    frame.locator("#kefu-file").set_input_files(
        {"name": "bill.jpg", "mimeType": "image/jpeg", "buffer": photo()}
    )
    expect(frame.locator(".tray-item.done")).to_have_count(1)
    ask(frame, "My bill looks wrong")
    latest = amy.locator("#chat-log .msg-user").last
    expect(latest.locator(".text")).to_have_text("My bill looks wrong")
    expect(latest.locator("a.thumb img")).to_have_attribute("alt", "顾客发送的图片 1")
    amy.wait_for_function(LOADED, arg=latest.locator("a.thumb img").element_handle())
    amy.screenshot(path=str(SHOTS / "handoff-agent.png"), full_page=True)
    ben.screenshot(path=str(SHOTS / "handoff-second-agent.png"), full_page=True)

    amy.locator("#release").click()
    expect(amy.locator("#chat-status")).to_have_text("机器人接待")
    expect(frame.locator("#kefu-status")).to_have_text("You are back with the assistant")
    ask(frame, FAQ_QUESTION)
    expect(frame.locator(".msg-bot:not(.welcome) .bubble").last).to_have_text(
        FAQ_ANSWER_TEXT + "[1]"
    )
    customer.screenshot(path=str(SHOTS / "handoff-customer.png"))
    assert errors == []
    for ctx in (amy_ctx, ben_ctx, customer_ctx):
        ctx.close()


def test_the_conversations_page_shows_a_turns_passages_and_tool_calls(
    browser: Browser, kefu: Kefu, shop: str
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    question = "十月那张账单的流量费怎么比平时高？"
    kefu.llm.script(
        tool_reply("get_bill", {"month": "2026-10"}),
        text_reply("您10月的账单含套餐外流量费，超出部分按每GB 5元计费。[1]"),
    )
    customer_ctx = context(browser)
    customer = customer_ctx.new_page()
    customer.goto(shop)
    frame = open_widget(customer)
    ask(frame, question)
    expect(frame.locator(".msg-bot:not(.welcome) .bubble").last).to_contain_text("每GB 5元")
    assert kefu.llm.unused_replies == 0
    customer_ctx.close()
    image = _attach_photo(kefu.runtime, question)

    admin_ctx = context(browser)
    errors: list[str] = []
    admin = sign_in(admin_ctx, kefu, "ada", "/console/conversations", errors)
    admin.locator("#conversation-filters input[name=q]").fill("流量费")
    admin.locator("#conversation-filters select[name=route]").select_option("llm")
    admin.locator("#conversation-filters input[name=q]").press("Enter")
    rows = admin.locator("#conversations tbody tr[data-conversation]")
    expect(rows).to_have_count(1)
    rows.get_by_role("link").click()

    trace = admin.locator(".turn-assistant .trace").last
    trace.locator("summary").click()
    expect(trace.locator(".trace-route")).to_contain_text("llm")
    expect(trace.locator(".passage").first).to_contain_text("billing.md")
    expect(trace.locator(".passage").first).to_contain_text("每GB 5元")  # the cited excerpt
    expect(trace.locator(".tool-call .tool-name")).to_have_text(["get_bill"])
    expect(trace.locator(".tool-call pre").first).to_contain_text("2026-10")
    expect(trace.locator(".tool-result")).to_contain_text("C10001")
    expect(trace.locator(".trace-prompt")).to_contain_text("agent-")
    # The customer's image: a thumbnail that loads, and by keyboard the full size in a tab.
    thumb = admin.locator(".turn-user .thumbs a.thumb")
    expect(thumb.locator("img")).to_have_attribute("alt", "顾客发送的图片 1")
    admin.wait_for_function(LOADED, arg=thumb.locator("img").element_handle())
    with admin_ctx.expect_page() as opened:
        thumb.focus()
        admin.keyboard.press("Enter")
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url.endswith(f"/attachments/{image}")
    assert tab.evaluate("document.images[0].naturalWidth") == 320
    tab.close()
    admin.screenshot(path=str(SHOTS / "conversation-trace.png"), full_page=True)

    admin.goto(f"{kefu.url}/console/analytics")
    expect(admin.locator("figure.chart svg")).to_have_count(4)
    expect(admin.locator('[data-figure="answers"] .value')).not_to_have_text("0")
    admin.screenshot(path=str(SHOTS / "analytics.png"), full_page=True)
    assert errors == []
    admin_ctx.close()


def _attach_photo(runtime: Runtime, question: str) -> int:
    """Give the customer's question a photo, as the widget's upload would (stored, linked to
    the message); returns the image's id."""
    with runtime.session_factory.begin() as s:
        asked = s.scalars(
            select(Message).where(Message.role == MessageRole.USER, Message.content == question)
        ).one()
        return attachment_service.store(
            db_session=s,
            settings=runtime.settings,
            image=clean(photo(), runtime.settings.vision),
            owner="widget-test",
            channel="web",
            conversation_id=asked.conversation_id,
            message_id=asked.id,
        ).id
