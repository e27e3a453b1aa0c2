"""The widget in a real browser (Debian's headless Chromium): a host page on one loopback origin
embeds kefu from another; a visitor asks, sees the streamed answer and its source, reloads and
finds the history; and a handoff round trip with a human agent."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, FrameLocator, Page, expect, sync_playwright

from app.conversation.models import Conversation
from app.runtime import Runtime
from app.widget import identity
from tests.widget.conftest import ARTIFACTS, FAQ_ANSWER_TEXT, FAQ_QUESTION, HostSite, Keys

CHROMIUM = os.environ.get("KEFU_CHROMIUM", "/usr/bin/chromium")
TIMEOUT_MS = 20_000  # the first answer waits for the router's embeddings (a few seconds)
expect.set_options(timeout=TIMEOUT_MS)

# Hostile host CSS: none of it may reach the launcher or the chat (shadow root + iframe).
HOST_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>* {{ color: red !important; font-size: 40px !important; }}
button {{ display: none !important; }} iframe {{ opacity: 0 !important; }}</style></head>
<body><h1>Our shop</h1><p>Welcome.</p>
<script src="{kefu}/widget.js" data-key="{key}" data-lang="{lang}" async></script>
</body></html>"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture
def site(host_site: HostSite, kefu_url: str, keys: Keys) -> HostSite:
    host_site.pages["/"] = HOST_PAGE.format(kefu=kefu_url, key=keys.client, lang="en")
    host_site.pages["/zh"] = HOST_PAGE.format(kefu=kefu_url, key=keys.client, lang="zh")
    return host_site


def open_widget(page: Page) -> FrameLocator:
    launcher = page.locator("#kefu-widget button.launcher")
    expect(launcher).to_be_visible(timeout=TIMEOUT_MS)
    launcher.click()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#kefu-widget #kefu-panel")).to_be_visible()
    frame = page.frame_locator("#kefu-widget iframe")
    expect(frame.locator("#kefu-input")).to_be_visible(timeout=TIMEOUT_MS)
    return frame


def _wait_for_message(admin_api: httpx.Client, cid: str, text: str) -> None:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        detail = admin_api.get(f"/admin/conversations/{cid}").json()
        if text in [m["content"] for m in detail["messages"]]:
            return
        assert time.monotonic() < deadline, f"{text!r} never reached the conversation"
        time.sleep(0.1)


def ask(frame: FrameLocator, text: str) -> None:
    box = frame.locator("#kefu-input")
    box.fill(text)
    box.press("Enter")
    expect(frame.locator(".msg-user .bubble").last).to_have_text(text)


def test_ask_see_the_cited_answer_reload_and_keep_the_history(
    browser: Browser, site: HostSite
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(site.url + "/")
    frame = open_widget(page)
    expect(frame.locator("#kefu-input")).to_be_focused()
    expect(frame.locator(".welcome")).to_contain_text("How can I help?")
    # The launcher opens, and names, the dialog that holds the chat.
    launcher = page.locator("#kefu-widget button.launcher")
    expect(launcher).to_have_attribute("aria-haspopup", "dialog")
    expect(launcher).to_have_attribute("aria-controls", "kefu-panel")
    dialog = page.get_by_role("dialog", name="Customer support")
    expect(dialog).to_have_attribute("id", "kefu-panel")
    expect(dialog).to_have_attribute("aria-modal", "false")
    expect(dialog.locator("iframe")).to_have_count(1)
    # The log is not live (each streamed piece re-renders a bubble); the finished answer is
    # read out once, by the polite announcer.
    expect(frame.locator("#kefu-log")).to_have_attribute("role", "log")
    expect(frame.locator("#kefu-log")).to_have_attribute("aria-live", "off")
    announcer = frame.locator("#kefu-announce")
    expect(announcer).to_have_attribute("aria-live", "polite")

    ask(frame, FAQ_QUESTION)
    answer = frame.locator(".msg-bot .bubble").last
    expect(answer).to_have_text(FAQ_ANSWER_TEXT + "[1]")
    expect(announcer).to_have_text("小帆: " + FAQ_ANSWER_TEXT + "[1]")
    expect(frame.locator("#kefu-log")).to_have_attribute("aria-busy", "false")
    # Markdown from the knowledge base is rendered (and only the safe subset).
    expect(answer.locator("strong")).to_have_text("3-5 working days")
    sources = frame.locator(".msg-bot .sources").last
    expect(sources.locator("summary")).to_have_text("Sources (1)")
    answer.locator("button.cite").click()  # the [1] marker opens the source list
    expect(sources.locator("li")).to_contain_text("faq.csv")
    expect(sources.locator("li")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "widget.png"))

    page.reload()
    frame = open_widget(page)
    expect(frame.locator(".msg-user .bubble")).to_have_text([FAQ_QUESTION])
    expect(frame.locator(".msg-bot .bubble")).to_have_text([FAQ_ANSWER_TEXT + "[1]"])
    expect(frame.locator(".msg-bot .sources li")).to_contain_text("faq.csv")
    expect(frame.locator(".welcome")).to_have_count(0)

    # Escape closes the panel and gives the focus back to the launcher.
    frame.locator("#kefu-input").press("Escape")
    expect(page.locator("#kefu-widget iframe")).to_be_hidden()
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    assert errors == []
    context.close()


def test_escape_closes_from_the_launcher_and_the_page(browser: Browser, site: HostSite) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(site.url + "/")
    launcher = page.locator("#kefu-widget button.launcher")
    dialog = page.get_by_role("dialog", name="Customer support")

    open_widget(page)
    launcher.focus()
    launcher.press("Escape")
    expect(dialog).to_be_hidden()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    expect(launcher).to_be_focused()

    # On the page with nothing focused (the visitor clicked its text).
    open_widget(page)
    page.locator("h1").click()
    assert page.evaluate("() => document.activeElement === document.body")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # A control of the host page that has the focus keeps its Escape.
    open_widget(page)
    page.evaluate("() => document.body.appendChild(document.createElement('input')).focus()")
    page.keyboard.press("Escape")  # returns once the page's key handlers have run
    expect(dialog).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    context.close()


def test_phone_screen_gets_a_full_screen_panel_in_chinese(browser: Browser, site: HostSite) -> None:
    context = browser.new_context(
        viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(site.url + "/zh")
    frame = open_widget(page)
    box = page.locator("#kefu-widget iframe").bounding_box()
    assert box is not None and (box["width"], box["height"]) == (375, 667)
    expect(frame.locator("#kefu-send")).to_have_text("发送")
    ask(frame, "怎么开发票")
    expect(frame.locator(".msg-bot .bubble").last).to_contain_text("申请发票")
    expect(frame.locator(".msg-bot .sources summary").last).to_have_text("来源 (1)")
    page.screenshot(path=str(ARTIFACTS / "widget-phone.png"))
    context.close()


def _conversation_id(page: Page) -> str:
    frame = next(f for f in page.frames if "/widget/frame" in f.url)
    # Stored when the answer's `done` event arrives, which may trail the text a little.
    frame.wait_for_function(
        "() => Object.keys(localStorage).some(k => k.endsWith('.conversation'))"
    )
    cid = frame.evaluate(
        "() => Object.keys(localStorage).filter(k => k.endsWith('.conversation'))"
        ".map(k => localStorage.getItem(k))[0]"
    )
    assert isinstance(cid, str) and len(cid) == 32
    return cid


def test_handoff_round_trip(browser: Browser, site: HostSite, admin_api: httpx.Client) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(site.url + "/")
    frame = open_widget(page)
    status = frame.locator("#kefu-status")

    ask(frame, "I want a human")
    expect(status).to_have_text("Connecting you to a support agent…")
    cid = _conversation_id(page)  # known once the turn is stored
    queue = admin_api.get("/admin/handoff/queue", params={"status": "awaiting_human"}).json()
    assert cid in [item["id"] for item in queue]

    claimed = admin_api.post(f"/admin/conversations/{cid}/claim", json={"agent": "alice"})
    assert claimed.status_code == 200
    expect(status).to_have_text("A support agent has joined")
    # Another agent cannot take it meanwhile.
    taken = admin_api.post(f"/admin/conversations/{cid}/claim", json={"agent": "bob"})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "already_claimed"

    reply = "Hi, Alice here. See <b>https://example.com/help</b>"
    sent = admin_api.post(
        f"/admin/conversations/{cid}/messages", json={"agent": "alice", "text": reply}
    )
    assert sent.status_code == 201
    agent_msg = frame.locator(".msg-agent .bubble")
    expect(agent_msg).to_have_text(reply)  # shown live, as text: no HTML from agents either
    expect(frame.locator(".msg-agent .who")).to_have_text("Support agent alice")
    expect(frame.locator("#kefu-announce")).to_have_text("Support agent alice: " + reply)
    expect(agent_msg.locator("b")).to_have_count(0)
    expect(agent_msg.locator("a")).to_have_attribute("rel", "noopener noreferrer nofollow")

    ask(frame, "Thanks, one more thing")
    # The bubble shows before the POST lands: wait for the agent's console to have it.
    _wait_for_message(admin_api, cid, "Thanks, one more thing")
    bot_replies = frame.locator(".msg-bot:not(.welcome) .bubble")
    expect(bot_replies).to_have_count(1)  # the bot stays silent while Alice holds it

    released = admin_api.post(f"/admin/conversations/{cid}/release", json={"agent": "alice"})
    assert released.status_code == 200
    expect(status).to_have_text("You are back with the assistant")
    ask(frame, FAQ_QUESTION)
    expect(bot_replies.last).to_have_text(FAQ_ANSWER_TEXT + "[1]")
    expect(bot_replies).to_have_count(2)

    # After a reload the whole exchange is there, the agent's message (and name) included.
    page.reload()
    frame = open_widget(page)
    expect(frame.locator(".msg-agent .bubble")).to_have_text([reply])
    expect(frame.locator(".msg-agent .who")).to_have_text(["Support agent alice"])
    expect(frame.locator(".msg-user .bubble")).to_have_count(3)
    page.screenshot(path=str(ARTIFACTS / "widget-handoff.png"))
    context.close()


def test_other_sites_cannot_frame_the_chat(
    browser: Browser, site: HostSite, other_site: HostSite, kefu_url: str, keys: Keys
) -> None:
    # The loader on a site the key does not allow: the server refuses the frame.
    other_site.pages["/"] = HOST_PAGE.format(kefu=kefu_url, key=keys.client, lang="en")
    # A site that claims to be the allowed one: CSP frame-ancestors makes the browser refuse.
    framed = f"{kefu_url}/widget/frame?key={keys.client}&origin={site.url}"
    other_site.pages["/liar"] = f'<!doctype html><iframe id="f" src="{framed}"></iframe>'
    site.pages["/direct"] = other_site.pages["/liar"]
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()

    page.goto(other_site.url + "/")
    frame = open_widget_frame_only(page)
    expect(frame.locator("body")).to_contain_text("may not be embedded")
    expect(frame.locator("#kefu-input")).to_have_count(0)

    page.goto(site.url + "/direct")  # the control: the allowed origin renders it
    expect(page.frame_locator("#f").locator("#kefu-input")).to_be_visible()

    blocked: list[str] = []
    page.on("console", lambda msg: blocked.append(msg.text))
    page.goto(other_site.url + "/liar", wait_until="load")
    child = page.frames[-1]
    assert child != page.main_frame
    assert child.locator("#kefu-input").count() == 0
    assert any("frame-ancestors" in text for text in blocked), blocked
    context.close()


def open_widget_frame_only(page: Page) -> FrameLocator:
    page.locator("#kefu-widget button.launcher").click()
    return page.frame_locator("#kefu-widget iframe")


def test_a_signed_in_visitor_is_known_to_the_conversation(
    browser: Browser, site: HostSite, kefu_url: str, keys: Keys, widget_runtime: Runtime
) -> None:
    secret = identity.signing_secret(
        widget_runtime.settings.secret_key.get_secret_value(), keys.client_id
    )
    token = identity.sign(secret, "C1001")
    site.pages["/signed"] = HOST_PAGE.format(kefu=kefu_url, key=keys.client, lang="en").replace(
        "async></script>", f'data-identity="{token}" async></script>'
    )
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(site.url + "/signed")
    frame = open_widget(page)
    ask(frame, "hello")
    expect(frame.locator(".msg-bot:not(.welcome) .bubble")).to_have_count(1)
    expect(frame.locator(".msg-bot:not(.welcome) .bubble")).not_to_have_text("Typing…")
    with widget_runtime.session_factory() as s:
        conv = s.get(Conversation, _conversation_id(page))
        assert conv is not None and conv.customer_id == "C1001"
    context.close()


NO_STORED_CONVERSATION = "() => !Object.keys(localStorage).some(k => k.endsWith('.conversation'))"


def test_the_next_person_on_the_browser_does_not_see_a_customers_conversation(
    browser: Browser, site: HostSite, kefu_url: str, keys: Keys, widget_runtime: Runtime
) -> None:
    secret = identity.signing_secret(
        widget_runtime.settings.secret_key.get_secret_value(), keys.client_id
    )
    site.pages["/account"] = HOST_PAGE.format(kefu=kefu_url, key=keys.client, lang="en").replace(
        "async></script>", f'data-identity="{identity.sign(secret, "C3003")}" async></script>'
    )
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(site.url + "/account")
    frame = open_widget(page)
    ask(frame, "hello")
    expect(frame.locator(".msg-bot:not(.welcome) .bubble")).not_to_have_text("Typing…")
    customers = _conversation_id(page)

    # Signed out (the same browser, the same stored conversation): the frame is told 403 and
    # forgets the conversation instead of showing it.
    page.goto(site.url + "/")
    frame = open_widget(page)
    handle = next(f for f in page.frames if "/widget/frame" in f.url)
    handle.wait_for_function(NO_STORED_CONVERSATION)
    expect(frame.locator(".welcome")).to_be_visible()
    expect(frame.locator(".msg-user")).to_have_count(0)
    ask(frame, "hi")
    expect(frame.locator(".msg-bot:not(.welcome) .bubble")).not_to_have_text("Typing…")
    anonymous = _conversation_id(page)
    assert anonymous != customers
    with widget_runtime.session_factory() as s:
        conv = s.get(Conversation, anonymous)
        assert conv is not None and conv.customer_id is None

    # Signing out without a reload (a single-page site) clears what the frame shows too.
    page.goto(site.url + "/account")
    frame = open_widget(page)
    ask(frame, "hello again")  # continues the anonymous conversation, now signed in
    expect(frame.locator(".msg-bot:not(.welcome) .bubble").last).not_to_have_text("Typing…")
    assert _conversation_id(page) == anonymous
    page.evaluate("() => KefuWidget.setIdentity(null)")
    handle = next(f for f in page.frames if "/widget/frame" in f.url)
    handle.wait_for_function(NO_STORED_CONVERSATION)
    expect(frame.locator(".msg-user")).to_have_count(0)
    expect(frame.locator(".welcome")).to_be_visible()
    context.close()
