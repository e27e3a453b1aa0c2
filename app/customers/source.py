"""The business-data interface the agent's tools read, whichever system holds the records.

Two implementations: ``sql.SqlBusinessData`` (tables in the service's own database, with the
demo data set) and ``http.HttpBusinessData`` (a company's REST API, from URL templates).

The interface is async because its caller, the agent, runs on the event loop; the SQL
backend runs each call in a worker thread with a short session of its own, so a slow query
never blocks the loop and no session is shared with the caller.

Every method takes the customer id from the conversation (never from the model): a method
asked for a record that exists but belongs to someone else raises ``NotAllowed``; a record
that does not exist is ``None``; a source that cannot answer raises ``Unavailable``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from app.customers.schemas import (
    BillRecord,
    MembershipRecord,
    NewTicket,
    OrderRecord,
    TicketRecord,
)


class BusinessDataError(Exception):
    """Base of what a source raises; the tools turn each into a result the model can read."""


class Unavailable(BusinessDataError):
    """The source could not answer: down, timed out, misconfigured or answered nonsense."""


class NotAllowed(BusinessDataError):
    """The record exists but belongs to another customer than the conversation's."""


class Unsupported(BusinessDataError):
    """This source cannot answer that kind of question (e.g. no order-list endpoint)."""


class BusinessData(ABC):
    @abstractmethod
    async def get_bill(self, *, customer_id: str, month: str) -> BillRecord | None:
        """The bill for one billing month ("YYYY-MM"), with its line items."""

    @abstractmethod
    async def get_order(self, *, customer_id: str, order_id: str) -> OrderRecord | None:
        """One store order with its items, shipment and refund."""

    @abstractmethod
    async def recent_orders(self, *, customer_id: str, limit: int) -> list[OrderRecord]:
        """The customer's latest store orders, newest first."""

    @abstractmethod
    async def get_membership(self, *, customer_id: str) -> MembershipRecord | None:
        """Tier, points and the history of tier changes with their reasons."""

    @abstractmethod
    async def create_ticket(self, *, customer_id: str, ticket: NewTicket) -> TicketRecord:
        """Open a support ticket; the returned record carries its id."""

    async def customer_phone(self, *, customer_id: str) -> str | None:
        """The customer's own phone number, so a model repeating it is not refused as asking
        for someone else's records; None where the source does not know it."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - a no-op unless the backend holds resources
        """Release connections (the HTTP client); safe to call twice."""
