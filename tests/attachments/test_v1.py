"""Images through the OpenAI-compatible API: read by the vision model, answered by the
agent with the image as context; bad images refused before anything is stored."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from app.conversation.models import TurnTrace
from tests.attachments.conftest import DESCRIPTION, Kefu, prompt_text, vl_image_urls
from tests.attachments.images import FAKE_JPEG, data_url, has_exif, noisy_png, photo, pixel_bomb
from tests.llm.scripted_server import text_reply


def ask(kefu: Kefu, parts: list[dict[str, Any]], **extra: Any) -> Any:
    return kefu.client.post(
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {kefu.client_key}"},
        json={"model": "kefu", "messages": [{"role": "user", "content": parts}], **extra},
    )


def image_part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def test_an_image_reaches_the_vision_model_and_its_reading_the_agent(kefu: Kefu) -> None:
    vl_before, llm_before = len(kefu.vl.chat_requests), len(kefu.llm.chat_requests)
    kefu.script_reading("您的图片显示订单 DD20261206-7788 配送失败 [1]，我帮您转人工处理。")
    resp = ask(kefu, [{"type": "text", "text": "这个怎么回事？"}, image_part(data_url(photo()))])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "DD20261206-7788" in body["choices"][0]["message"]["content"]
    # The vision model got the image as a data URL, re-encoded (no EXIF), thinking off.
    vl_request = kefu.vl.chat_requests[vl_before].json
    assert vl_request["model"] == "scripted-vl"
    assert vl_request["chat_template_kwargs"] == {"enable_thinking": False}
    (url,) = vl_image_urls(kefu.vl)[vl_before:]
    assert url.startswith("data:image/jpeg;base64,")
    assert not has_exif(base64.b64decode(url.split(",", 1)[1]))
    # What it read reached the agent's prompt, as a passage it cites as "your image".
    prompt = prompt_text(kefu.llm.chat_requests[llm_before].json)
    assert DESCRIPTION in prompt and "您的图片" in prompt
    assert "这个怎么回事？" in prompt
    (citation,) = body["citations"]
    assert citation["kind"] == "image" and citation["source"] == "您的图片"
    # Stored with the customer's message, with its reading; the admin API serves it.
    conversation = body["kefu"]["conversation_id"]
    listed = kefu.client.get(
        f"/admin/conversations/{conversation}/attachments",
        headers={"Authorization": f"Bearer {kefu.admin}"},
    ).json()
    assert [a["description"] for a in listed] == [DESCRIPTION]
    image = kefu.client.get(listed[0]["url"], headers={"Authorization": f"Bearer {kefu.admin}"})
    assert image.headers["content-type"] == "image/jpeg"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert not has_exif(image.content)
    # A follow-up in words still knows what the image showed (the agent's history has it),
    # and the image turn's trace timed the vision step.
    llm_seen = len(kefu.llm.chat_requests)
    kefu.llm.script(text_reply("我来帮您查询这个订单。"))
    follow = ask(
        kefu, [{"type": "text", "text": "这个订单什么时候能到？"}], conversation_id=conversation
    )
    assert follow.status_code == 200, follow.text
    assert DESCRIPTION in prompt_text(kefu.llm.chat_requests[llm_seen].json)
    with kefu.runtime.session_factory() as s:
        trace = s.scalar(
            select(TurnTrace).where(TurnTrace.message_id == body["kefu"]["message_id"])
        )
        assert trace is not None and trace.timings["vision_ms"] > 0


def test_an_image_alone_is_a_message(kefu: Kefu) -> None:
    kefu.script_reading("您的图片是订单页面 [1]。")
    resp = ask(kefu, [image_part(data_url(photo(color=(10, 200, 10))))])
    assert resp.status_code == 200, resp.text
    assert resp.json()["kefu"]["route"] == "llm"
    assert resp.json()["choices"][0]["message"]["content"] == "您的图片是订单页面 [1]。"


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("oversized", 413, "image_too_large"),
        (data_url(pixel_bomb(), "image/png"), 422, "image_too_many_pixels"),
        (data_url(FAKE_JPEG), 415, "not_an_image"),
        ("https://127.0.0.1/receipt.jpg", 422, "image_url_refused"),
        ("https://localhost:8443/receipt.jpg", 422, "image_url_refused"),
        ("https://[::1]/receipt.jpg", 422, "image_url_refused"),
        ("https://169.254.169.254/latest/meta-data", 422, "image_url_refused"),
        ("http://example.com/receipt.jpg", 422, "image_url_refused"),
        ("data:image/jpeg;base64,!!!not-base64!!!", 422, "invalid_image_url"),
    ],
)
def test_refused_with_nothing_stored(kefu: Kefu, url: str, status: int, code: str) -> None:
    if url == "oversized":
        url = data_url(noisy_png(900), "image/png")  # ~2.4 MB over the module's 2 MB limit
    before, files = kefu.counts(), kefu.files()
    vl_seen = len(kefu.vl.chat_requests)
    resp = ask(kefu, [{"type": "text", "text": "看看这张图"}, image_part(url)])
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code and error["message"]
    assert kefu.counts() == before and kefu.files() == files
    assert len(kefu.vl.chat_requests) == vl_seen


def test_too_many_images_are_refused(kefu: Kefu) -> None:
    before = kefu.counts()
    resp = ask(kefu, [image_part(data_url(photo()))] * 5)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "too_many_images"
    assert kefu.counts() == before


@pytest.mark.usefixtures("vision_down")
def test_with_the_vision_model_down_the_customer_is_told_and_the_agent_sees_it(
    kefu: Kefu,
) -> None:
    llm_seen = len(kefu.llm.chat_requests)
    resp = ask(kefu, [image_part(data_url(photo(color=(0, 0, 200))))])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["kefu"]["route"] == "image"
    assert "看不懂图片" in body["choices"][0]["message"]["content"]
    assert "转人工" in body["choices"][0]["message"]["content"]
    assert len(kefu.llm.chat_requests) == llm_seen  # no answer made up without the image
    conversation = body["kefu"]["conversation_id"]
    admin = {"Authorization": f"Bearer {kefu.admin}"}
    (listed,) = kefu.client.get(
        f"/admin/conversations/{conversation}/attachments", headers=admin
    ).json()
    assert listed["description"] is None and "LLM" in listed["vision_error"]
    # The handoff view names the image on the customer's message.
    detail = kefu.client.get(f"/admin/conversations/{conversation}", headers=admin).json()
    customer = next(m for m in detail["messages"] if m["role"] == "user")
    assert customer["attachments"] == [listed["id"]]
    image = kefu.client.get(listed["url"], headers=admin)
    assert image.status_code == 200
    with Image.open(io.BytesIO(image.content)) as shown:
        assert shown.getpixel((5, 5))[2] > 150  # the customer's blue picture


def test_images_are_not_served_without_authorisation(kefu: Kefu) -> None:
    kefu.script_reading("您的图片 [1]。")
    body = ask(kefu, [image_part(data_url(photo()))]).json()
    conversation = body["kefu"]["conversation_id"]
    admin = {"Authorization": f"Bearer {kefu.admin}"}
    (listed,) = kefu.client.get(
        f"/admin/conversations/{conversation}/attachments", headers=admin
    ).json()
    as_client = kefu.client.get(
        listed["url"], headers={"Authorization": f"Bearer {kefu.client_key}"}
    )
    assert as_client.status_code == 403
    assert kefu.client.get(listed["url"]).status_code == 401
    other = kefu.client.get(
        f"/admin/conversations/someone-else/attachments/{listed['id']}", headers=admin
    )
    assert other.status_code == 404
