"""Customers' images through the console's session: served to a signed-in agent as stored,
refused without a session, for another conversation and for an unknown id; the transcript
shows them as thumbnails linking to the full size."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from app.attachments import service as attachment_service
from app.attachments.intake import clean
from app.console.models import ConsoleRole
from app.conversation import service as conversation_service
from app.conversation.models import MessageRole
from app.core.config import Settings
from app.runtime import Runtime
from tests.attachments.images import photo
from tests.console.support import make_user, sign_in

HTML = {"Accept": "text/html"}


def _conversation_with_image(
    factory: sessionmaker[Session], settings: Settings, color: tuple[int, int, int]
) -> tuple[str, int, bytes]:
    """A conversation whose customer sent a photo: (its id, the image's id, stored bytes)."""
    image = clean(photo(color=color), settings.vision)
    with factory.begin() as s:
        conv = conversation_service.create(
            db_session=s, channel="web", external_user_id=f"v{color}", customer_id=None
        )
        asked = conversation_service.add_message(
            db_session=s, conversation=conv, role=MessageRole.USER, content="看这张截图"
        )
        row = attachment_service.store(
            db_session=s,
            settings=settings,
            image=image,
            owner=f"web:v{color}",
            channel="web",
            conversation_id=conv.id,
            message_id=asked.id,
        )
        return conv.id, row.id, image.data


def test_a_signed_in_agent_sees_a_conversations_images_and_no_one_else_does(
    client: TestClient, runtime: Runtime, session_factory: sessionmaker[Session]
) -> None:
    make_user(session_factory, "amy", ConsoleRole.AGENT)
    conv, image, data = _conversation_with_image(session_factory, runtime.settings, (200, 40, 40))
    other, other_image, _ = _conversation_with_image(
        session_factory, runtime.settings, (40, 40, 200)
    )
    url = f"/console/conversations/{conv}/attachments/{image}"

    anonymous = client.get(url)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
    opened_in_tab = client.get(url, headers=HTML, follow_redirects=False)
    assert opened_in_tab.status_code == 303
    assert opened_in_tab.headers["location"].startswith("/console/login?next=")

    sign_in(client, "amy")
    served = client.get(url)
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"] == "image/jpeg"
    assert "private" in served.headers["cache-control"]
    assert served.headers["x-content-type-options"] == "nosniff"

    for wrong in (
        f"/console/conversations/{conv}/attachments/{other_image}",  # another conversation's
        f"/console/conversations/{other}/attachments/{image}",
        f"/console/conversations/{conv}/attachments/{image + other_image + 1000}",  # unknown
    ):
        refused = client.get(wrong)
        assert refused.status_code == 404, wrong
        assert refused.json()["error"]["code"] == "not_found", wrong
    assert client.get(f"/console/conversations/{conv}/attachments/x").status_code == 422

    page = client.get(f"/console/conversations/{conv}", headers=HTML)
    assert page.status_code == 200
    assert f'<a class="thumb" href="{url}" target="_blank"' in page.text
    assert f'<img src="{url}" alt="顾客发送的图片 1"' in page.text
    assert f"/attachments/{other_image}" not in page.text
