"""Feedback and images in a real browser (one browser for both): a visitor asks, clicks 👎
under the answer, writes a comment, and the rating and the comment are stored with that
answer; after a reload the answer still shows the thumbs-down as chosen. A visitor attaches
and drops images, sends them, and sees them again after a reload."""

from __future__ import annotations

import base64
import re

import httpx
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from app.conversation.models import Message, MessageRole
from app.conversation.warmup import warm
from app.feedback.models import MessageFeedback, Rating
from app.runtime import Runtime
from tests.attachments.images import photo
from tests.support import wait_until
from tests.widget.conftest import ARTIFACTS, FAQ_ANSWER_TEXT, FAQ_QUESTION, HostSite
from tests.widget.test_browser import (
    TIMEOUT_MS,
    _conversation_id,
    ask,
    browser,
    open_widget,
    site,
)

__all__ = ["browser", "site"]  # fixtures, used by name


def _feedback_of(runtime: Runtime, answer: str) -> list[tuple[str, Rating, str | None]]:
    with runtime.session_factory() as s:
        rows = s.execute(
            select(Message.content, MessageFeedback.rating, MessageFeedback.comment)
            .join(MessageFeedback, MessageFeedback.message_id == Message.id)
            .where(Message.role == MessageRole.ASSISTANT, Message.content == answer)
        )
        return [(c, r, m) for c, r, m in rows]


def test_a_visitor_gives_a_thumbs_down_with_a_comment(
    browser: Browser, site: HostSite, widget_runtime: Runtime
) -> None:
    # What a server's start-up does (the package's runtime is shared and not warmed): the
    # first answer must not spend the expect timeout embedding the router's exemplars.
    warm(widget_runtime)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(site.url + "/")
    frame = open_widget(page)
    before = _feedback_of(widget_runtime, "Orders arrive in **3-5 working days**.")

    ask(frame, FAQ_QUESTION)
    answer = frame.locator(".msg-bot").last
    expect(answer.locator(".bubble")).to_have_text(FAQ_ANSWER_TEXT + "[1]")
    down = answer.get_by_role("button", name="Not helpful", exact=True)
    expect(down).to_have_attribute("aria-pressed", "false")
    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(answer.locator(".fb-thanks")).to_have_text("Thanks for your feedback")
    comment = answer.get_by_role("textbox", name="What was wrong? (optional)")
    expect(comment).to_be_focused()
    comment.fill("I need the exact date")
    comment.press("Enter")
    expect(comment).to_have_count(0)

    stored = "Orders arrive in **3-5 working days**."
    wait_until(
        lambda: (
            len(_feedback_of(widget_runtime, stored)) > len(before)
            and any(
                c == "I need the exact date" for _, _, c in _feedback_of(widget_runtime, stored)
            )
        ),
        timeout=TIMEOUT_MS / 1000,
        what="the comment to be stored",
    )
    assert (stored, Rating.DOWN, "I need the exact date") in _feedback_of(widget_runtime, stored)

    page.reload()
    frame = open_widget(page)
    again = frame.locator(".msg-bot").last
    expect(again.get_by_role("button", name="Not helpful", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(again.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "false"
    )
    assert errors == []
    context.close()


def test_images_attached_and_dropped_are_sent_with_thumbnails_and_kept(
    browser: Browser, site: HostSite, admin_api: httpx.Client
) -> None:
    """Attach one image with the button's file input and drop another on the chat: both
    upload (progress, then a thumbnail in the tray), go out with one message and show in the
    transcript; with no vision model the bot says it cannot read images yet; a reload shows
    the images again (fetched with the visitor's token)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(site.url + "/zh")
    frame = open_widget(page)
    expect(frame.locator("#kefu-attach")).to_have_attribute("aria-label", re.compile("图片"))
    frame.locator("#kefu-file").set_input_files(
        {"name": "receipt.jpg", "mimeType": "image/jpeg", "buffer": photo()}
    )
    inner = next(f for f in page.frames if "/widget/frame" in f.url)
    dropped = inner.evaluate_handle(
        """b64 => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const data = new DataTransfer();
            data.items.add(new File([bytes], "parcel.jpg", {type: "image/jpeg"}));
            return data;
        }""",
        base64.b64encode(photo(color=(20, 20, 220))).decode(),
    )
    inner.dispatch_event("#kefu-log", "drop", {"dataTransfer": dropped})
    expect(frame.locator(".tray-item.done")).to_have_count(2)
    frame.locator("#kefu-input").press("Enter")
    thumbs = frame.locator(".msg-user .thumbs img")
    expect(thumbs).to_have_count(2)
    expect(frame.locator(".tray")).to_be_hidden()
    expect(frame.locator(".msg-bot .bubble").last).to_contain_text("看不懂图片")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget-images.png"))
    cid = _conversation_id(page)
    stored = admin_api.get(f"/admin/conversations/{cid}/attachments").json()
    assert [a["width"] for a in stored] == [320, 320]

    page.reload()
    frame = open_widget(page)
    expect(frame.locator(".msg-user .thumbs img")).to_have_count(2)
    expect(frame.locator(".msg-user .bubble").first).to_be_hidden()  # the placeholder text
    shown = frame.locator(".msg-user .thumbs img").first
    expect(shown).to_have_js_property("naturalWidth", 320)
    assert errors == []
    context.close()
