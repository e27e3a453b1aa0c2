"""Every table of the service, so Alembic and the drift test see the whole schema."""

from app.attachments.models import Attachment
from app.auth.models import ApiKey
from app.channels.models import ChannelCursor as ChannelCursor
from app.channels.models import OwedAnswer as OwedAnswer
from app.console.models import ConsoleUser
from app.conversation.models import Conversation, Message, TurnTrace
from app.customers.models import (
    Bill,
    BillItem,
    Customer,
    Membership,
    Order,
    OrderItem,
    Ticket,
    TierChange,
)
from app.feedback.models import MessageFeedback
from app.handoff.models import CannedReply
from knowledge.models import Document, IngestionJob, KnowledgeBase

__all__ = [
    "ApiKey",
    "Attachment",
    "Bill",
    "BillItem",
    "CannedReply",
    "ConsoleUser",
    "Conversation",
    "Customer",
    "Document",
    "IngestionJob",
    "KnowledgeBase",
    "Membership",
    "Message",
    "MessageFeedback",
    "Order",
    "OrderItem",
    "Ticket",
    "TierChange",
    "TurnTrace",
]
