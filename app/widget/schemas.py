from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

_CLIENT_ID = r"^[A-Za-z0-9_-]{8,64}$"


class WidgetMessageIn(BaseModel):
    # The length limit is the settings' (checked in the service), not a schema constant.
    text: str
    client_message_id: str = Field(pattern=_CLIENT_ID)
    # Sent by older frames; ignored: the visitor is the one of the X-Kefu-Visitor-Token the
    # server issued (a client-chosen id would let anyone name another visitor's).
    visitor_id: str | None = Field(None, pattern=_CLIENT_ID)
    conversation_id: str | None = Field(None, max_length=64)
    identity: str | None = Field(None, max_length=1024)
    # Images uploaded first (POST /widget/api/uploads) that this message carries; with
    # them the text may be empty.
    attachment_ids: list[int] = Field(default_factory=list, max_length=16)
    # The widget's display language: a reply to images sent without a word is in it.
    lang: Literal["zh", "en"] | None = None


class WidgetMessageOut(BaseModel):
    id: int
    role: str
    content: str
    client_message_id: str | None
    citations: list[dict[str, Any]]
    created_at: datetime
    agent: str | None = Field(None, description="A human agent's message: the agent's name.")
    feedback: str | None = Field(None, description="A bot answer: the visitor's rating (up/down).")
    attachments: list[int] = Field(
        default_factory=list, description="Ids of the images the message carries."
    )


class WidgetHistory(BaseModel):
    conversation_id: str
    status: str
    messages: list[WidgetMessageOut]


class WidgetSecret(BaseModel):
    key_id: int
    secret: str = Field(description="HMAC-SHA256 key the host site signs identities with.")
    algorithm: str = "HMAC-SHA256"
    max_age: int = Field(description="Longest lifetime (s) of an identity token accepted.")
