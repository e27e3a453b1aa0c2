"""The console in a real browser (Debian's headless Chromium) against a live kefu: an admin
signs in, adds an agent, uploads a DOCX and a Markdown file by drag and drop, watches them
become ready without a reload and finds a passage by hit-testing; edits an FAQ answer and
the bot's next answer is the new text; and the refusals (wrong password, no CSRF token, an
agent on an admin page)."""

from __future__ import annotations

import base64
import io
import json
import re
import time
import uuid

import httpx
from docx import Document as DocxDocument
from playwright.sync_api import Browser, Page, expect

from app.auth import service as auth_service
from app.auth.models import Role
from app.console.models import ConsoleRole
from app.runtime import Runtime
from tests.console.conftest import ADMIN, new_page, screenshot, sign_in
from tests.console.support import make_user
from tests.widget.conftest import FAQ_QUESTION

SLOW_MS = 60_000  # a first widget load or answer on a busy machine
PASSAGE = "The Aurora 9 router carries a warranty of 730 days from the date of delivery."


def aurora_docx() -> bytes:
    doc = DocxDocument()
    doc.add_heading("Aurora 9 router", level=1)
    doc.add_heading("Warranty", level=2)
    doc.add_paragraph(PASSAGE + " Repairs under warranty are free of charge.")
    doc.add_heading("Setup", level=2)
    doc.add_paragraph("Connect the Aurora 9 to power and wait for the blue light.")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


DROP = """([files]) => {
  const data = new DataTransfer();
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
    data.items.add(new File([bytes], f.name, { type: f.type }));
  }
  const zone = document.getElementById("dropzone");
  const init = { dataTransfer: data, bubbles: true, cancelable: true };
  zone.dispatchEvent(new DragEvent("dragover", init));
  zone.dispatchEvent(new DragEvent("drop", init));
}"""


def drop_files(page: Page, files: dict[str, tuple[str, bytes]]) -> None:
    payload = [
        {"name": name, "type": kind, "b64": base64.b64encode(data).decode()}
        for name, (kind, data) in files.items()
    ]
    page.evaluate(DROP, [payload])


def test_admin_adds_an_agent_uploads_a_docx_and_hit_tests_it(
    browser: Browser, console_url: str
) -> None:
    context, page = new_page(browser, console_url)
    sign_in(page, ADMIN)
    expect(page).to_have_url(f"{console_url}/console/knowledge")
    expect(page.locator('[data-nav="users"]')).to_be_visible()
    screenshot(page, "01-knowledge")

    page.locator('[data-nav="users"]').click()
    form = page.locator("#add-user")
    form.get_by_label("登录名").fill("bo")
    form.get_by_label("显示名（顾客可见）").fill("客服小波")
    form.get_by_role("button", name="添加").click()
    password = page.locator("#one-time-password").inner_text()
    assert len(password) >= 10
    expect(page.locator('tr[data-user="bo"]')).to_contain_text("客服小波")
    screenshot(page, "02-users-one-time-password")

    page.locator('[data-nav="knowledge"]').click()
    page.evaluate("window.notReloaded = true")
    md = "# Aurora 9 quick start\n\nPress the reset button for ten seconds to restore defaults.\n"
    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    drop_files(
        page,
        {
            "aurora.docx": (docx_type, aurora_docx()),
            "quickstart.md": ("text/markdown", md.encode()),
        },
    )
    expect(page.locator('#upload-progress li[data-state="done"]')).to_have_count(2)
    for name in ("aurora.docx", "quickstart.md"):
        status = page.locator(f'tr[data-name="{name}"] [data-status]')
        expect(status).to_have_attribute("data-status", "ready", timeout=90_000)
    assert page.evaluate("window.notReloaded") is True  # the status came live, no reload
    screenshot(page, "03-documents-ready")

    page.locator("#hit-question").fill("How long is the warranty of the Aurora 9 router?")
    page.get_by_role("button", name="测试").click()
    first = page.locator("#hits .chunk").first
    expect(first).to_contain_text("730 days", timeout=SLOW_MS)
    expect(first.locator(".hit-source")).to_have_text("aurora.docx")
    expect(first).to_contain_text("Warranty")  # the heading path
    expect(page.locator(".hit-route")).to_have_text("llm")
    screenshot(page, "04-hit-testing")
    context.close()


SHOP = "http://shop.example"


def ask_widget(console_url: str, key: str, question: str) -> str:
    """The question as the widget's frame asks it (visitor token, origin, SSE reply): the text
    the customer sees."""
    with httpx.Client(base_url=console_url, timeout=60) as client:
        frame = client.get("/widget/frame", params={"key": key, "origin": SHOP})
        token = re.search(r'data-visitor-token="([^"]+)"', frame.text)
        assert token, frame.text
        response = client.post(
            "/widget/api/messages",
            json={
                "text": question,
                "client_message_id": uuid.uuid4().hex,
                "visitor_id": uuid.uuid4().hex,
            },
            headers={
                "Authorization": f"Bearer {key}",
                "X-Kefu-Origin": SHOP,
                "X-Kefu-Visitor-Token": token.group(1),
            },
        )
    assert response.status_code == 200, response.text
    return "".join(
        json.loads(line[5:])["text"]
        for block in response.text.split("\n\n")
        if "event: delta" in block
        for line in block.splitlines()
        if line.startswith("data:")
    )


def test_an_faq_edit_is_the_bots_next_answer(
    browser: Browser, console_url: str, console_runtime: Runtime
) -> None:
    with console_runtime.session_factory() as s:
        key = auth_service.create(
            db_session=s, name="shop", role=Role.CLIENT, allowed_origins=[SHOP]
        ).secret
        s.commit()
    assert "3-5 working days" in ask_widget(console_url, key, FAQ_QUESTION)

    context, page = new_page(browser, console_url)
    sign_in(page, ADMIN)
    page.goto("/console/faq")
    pair = page.locator(f'.faq-pair[data-question="{FAQ_QUESTION}"]')
    pair.locator("summary").click()
    new_answer = "Orders now arrive within 48 hours, tracked all the way."
    pair.get_by_label("答案").fill(new_answer)
    pair.get_by_role("button", name="保存").click()
    expect(page.locator("#faq-saved")).to_be_visible(timeout=SLOW_MS)
    screenshot(page, "05-faq-saved")

    deadline = time.monotonic() + 30
    answer = ""
    while time.monotonic() < deadline:
        answer = ask_widget(console_url, key, FAQ_QUESTION)
        if new_answer in answer:
            break
        time.sleep(0.2)
    assert new_answer in answer, answer
    page.goto("/console/faq?q=48%20hours")
    expect(page.locator(".faq-pair")).to_have_count(1)
    expect(page.locator(".faq-pair .faq-a")).to_have_text(new_answer)
    screenshot(page, "06-faq-search")
    context.close()


def test_refusals_wrong_password_missing_csrf_and_agent_on_admin_page(
    browser: Browser, console_url: str, console_runtime: Runtime
) -> None:
    make_user(console_runtime.session_factory, "cy", ConsoleRole.AGENT)
    context, page = new_page(browser, console_url)
    sign_in(page, ADMIN, "not the password at all")
    expect(page.locator("#login-error")).to_have_text("用户名或密码错误。")
    expect(page).to_have_url(f"{console_url}/console/login")
    screenshot(page, "07-wrong-password")

    sign_in(page, "cy")
    expect(page).to_have_url(f"{console_url}/console/conversations")
    response = page.goto("/console/users")
    assert response is not None and response.status == 403
    expect(page.locator('[data-code="forbidden"]')).to_be_visible()
    nav = [e.get_attribute("data-nav") for e in page.locator("[data-nav]").all()]
    assert nav == ["conversations", "handoff"]  # the agent's nav: no admin pages
    screenshot(page, "08-agent-refused")

    # The browser's own cookie, a state change without the token: refused, nothing changes.
    no_token = page.request.post("/console/logout-everywhere", form={"x": "1"})
    assert no_token.status == 403 and no_token.json()["error"]["code"] == "csrf_failed"
    home = page.request.get("/console", max_redirects=0)  # still signed in, as the agent
    assert home.headers["location"] == "/console/conversations"
    context.close()


def test_settings_make_a_widget_key_and_preview_the_embed(
    browser: Browser, console_url: str
) -> None:
    context, page = new_page(browser, console_url)
    sign_in(page, ADMIN)
    page.locator('[data-nav="settings"]').click()
    form = page.locator("#create-key")
    form.get_by_label("名称").fill("shop site")
    form.locator("textarea[name=allowed_origins]").fill(console_url)
    form.get_by_role("button", name="创建密钥").click()
    secret = page.locator("#new-key-secret").inner_text()
    assert secret.startswith("kefu_")
    expect(page.locator("#embed-snippet")).to_have_value(
        f'<script src="{console_url}/widget.js" data-key="{secret}" async></script>'
    )
    page.locator("#embed-lang").select_option("en")
    expect(page.locator("#embed-snippet")).to_have_value(re.compile(r'data-lang="en" async'))
    preview = page.frame_locator("#embed-preview")
    launcher = preview.locator("#kefu-widget button.launcher")
    expect(launcher).to_be_visible(timeout=SLOW_MS)
    page.locator("#embed-preview").scroll_into_view_if_needed()
    launcher.click()
    chat = preview.frame_locator("#kefu-widget iframe")
    expect(chat.locator("#kefu-input")).to_be_visible(timeout=SLOW_MS)
    screenshot(page, "09-settings-embed-preview")
    context.close()
