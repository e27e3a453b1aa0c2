from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.feedback.models import Rating

Comment = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=1000),
    Field(description="What was wrong or right, in the customer's words (optional)."),
]


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: Rating = Field(description="up (helpful) or down (not helpful).")
    comment: Comment | None = None


class MessageFeedbackIn(FeedbackIn):
    """For APIs that name the message in the body (/v1, Dify)."""

    message_id: int = Field(
        ge=1, description="The answer's id: `kefu.message_id` of a /v1 response."
    )


class FeedbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    message_id: int
    conversation_id: str
    rating: Rating
    comment: str | None
    source: str
    created_at: datetime
    updated_at: datetime
