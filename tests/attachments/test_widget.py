"""Images through the widget's API: uploaded first (refused with nothing stored when bad),
then sent by id with the message; the answer streams back; only the conversation's visitor
sees the image."""

from __future__ import annotations

import uuid

import pytest

from app.auth import service as auth_service
from app.auth.models import Role
from tests.attachments.conftest import DESCRIPTION, Kefu, prompt_text, vl_image_urls
from tests.attachments.images import FAKE_JPEG, has_exif, noisy_png, photo, pixel_bomb
from tests.widget.test_api import parse_sse, visitor_headers

ORIGIN = "https://shop.example"


@pytest.fixture(scope="module")
def widget_key(kefu: Kefu) -> str:
    with kefu.runtime.session_factory() as s:
        secret = auth_service.create(
            db_session=s, name="widget", role=Role.CLIENT, allowed_origins=[ORIGIN]
        ).secret
        s.commit()
    return secret


def upload(kefu: Kefu, headers: dict[str, str], data: bytes, name: str = "photo.jpg") -> object:
    return kefu.client.post(
        "/widget/api/uploads", headers=headers, files={"image": (name, data, "image/jpeg")}
    )


def test_an_uploaded_image_is_answered_in_the_stream(kefu: Kefu, widget_key: str) -> None:
    visitor = visitor_headers(kefu.client, widget_key, ORIGIN)
    uploaded = upload(kefu, visitor, photo())
    assert uploaded.status_code == 201, uploaded.text
    attachment = uploaded.json()["attachment_id"]
    vl_seen, llm_seen = len(kefu.vl.chat_requests), len(kefu.llm.chat_requests)
    kefu.script_reading("您的图片显示配送失败 [1]。")
    sent = kefu.client.post(
        "/widget/api/messages",
        headers=visitor,
        json={"text": "", "client_message_id": uuid.uuid4().hex, "attachment_ids": [attachment]},
    )
    assert sent.status_code == 200, sent.text
    events = parse_sse(sent.text)
    text = "".join(data["text"] for name, data in events if name == "delta")
    assert text == "您的图片显示配送失败 [1]。"
    (citations,) = [data["items"] for name, data in events if name == "citations"]
    assert citations[0]["kind"] == "image"
    assert vl_image_urls(kefu.vl)[vl_seen:][0].startswith("data:image/jpeg;base64,")
    assert DESCRIPTION in prompt_text(kefu.llm.chat_requests[llm_seen].json)
    conversation = next(data for name, data in events if name == "done")["conversation_id"]
    # The history names the image; the visitor may fetch it, another visitor may not.
    history = kefu.client.get(
        f"/widget/api/conversations/{conversation}/messages", headers=visitor
    ).json()
    assert history["messages"][0]["attachments"] == [attachment]
    url = f"/widget/api/conversations/{conversation}/attachments/{attachment}"
    image = kefu.client.get(url, headers=visitor)
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert not has_exif(image.content)
    stranger = visitor_headers(kefu.client, widget_key, ORIGIN)
    assert kefu.client.get(url, headers=stranger).status_code in (403, 404)
    # An upload is sent once, by its own visitor only.
    again = kefu.client.post(
        "/widget/api/messages",
        headers=stranger,
        json={"text": "hi", "client_message_id": uuid.uuid4().hex, "attachment_ids": [attachment]},
    )
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "unknown_attachment"


@pytest.mark.usefixtures("vision_down")
@pytest.mark.parametrize(
    ("lang", "expected", "placeholder"),
    [("en", "human agent", "[image]"), ("zh", "转人工", "[图片]")],
)
def test_an_image_sent_alone_is_answered_in_the_widgets_language(
    kefu: Kefu, widget_key: str, lang: str, expected: str, placeholder: str
) -> None:
    # Nothing the customer wrote says their language: the widget's display language does.
    visitor = visitor_headers(kefu.client, widget_key, ORIGIN)
    attachment = upload(kefu, visitor, photo()).json()["attachment_id"]  # type: ignore[attr-defined]
    sent = kefu.client.post(
        "/widget/api/messages",
        headers=visitor,
        json={
            "text": "",
            "client_message_id": uuid.uuid4().hex,
            "attachment_ids": [attachment],
            "lang": lang,
        },
    )
    assert sent.status_code == 200, sent.text
    events = parse_sse(sent.text)
    text = "".join(data["text"] for name, data in events if name == "delta")
    assert expected in text
    conversation = next(data for name, data in events if name == "done")["conversation_id"]
    history = kefu.client.get(
        f"/widget/api/conversations/{conversation}/messages", headers=visitor
    ).json()
    assert history["messages"][0]["content"] == placeholder


def test_a_language_the_widget_does_not_speak_is_refused(kefu: Kefu, widget_key: str) -> None:
    visitor = visitor_headers(kefu.client, widget_key, ORIGIN)
    sent = kefu.client.post(
        "/widget/api/messages",
        headers=visitor,
        json={"text": "hi", "client_message_id": uuid.uuid4().hex, "lang": "fr"},
    )
    assert sent.status_code == 422
    assert "lang" in sent.text


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (noisy_png(900), 413, "image_too_large"),
        (pixel_bomb(), 422, "image_too_many_pixels"),
        (FAKE_JPEG, 415, "not_an_image"),
    ],
)
def test_bad_uploads_are_refused_with_nothing_stored(
    kefu: Kefu, widget_key: str, data: bytes, status: int, code: str
) -> None:
    visitor = visitor_headers(kefu.client, widget_key, ORIGIN)
    before, files = kefu.counts(), kefu.files()
    refused = upload(kefu, visitor, data, name="receipt.jpg")
    assert refused.status_code == status, refused.text
    assert refused.json()["error"]["code"] == code
    assert kefu.counts() == before and kefu.files() == files
