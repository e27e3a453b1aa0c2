"""Every table of the service, so Alembic and the drift test see the whole schema."""

from app.auth.models import ApiKey
from app.conversation.models import Conversation, Message, TurnTrace
from knowledge.models import Document, IngestionJob, KnowledgeBase

__all__ = [
    "ApiKey",
    "Conversation",
    "Document",
    "IngestionJob",
    "KnowledgeBase",
    "Message",
    "TurnTrace",
]
