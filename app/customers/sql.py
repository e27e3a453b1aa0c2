"""Business data from the service's own tables (the embedded default, and the demo)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.customers import service
from app.customers.models import Order
from app.customers.schemas import (
    BillRecord,
    MembershipRecord,
    NewTicket,
    OrderItemRecord,
    OrderRecord,
    RefundRecord,
    ShipmentRecord,
    TicketRecord,
)
from app.customers.source import BusinessData, NotAllowed, Unavailable

T = TypeVar("T")


def order_record(order: Order) -> OrderRecord:
    shipment = None
    if order.carrier or order.tracking_no or order.shipped_at:
        shipment = ShipmentRecord(
            carrier=order.carrier,
            tracking_no=order.tracking_no,
            shipped_at=order.shipped_at,
            delivered_at=order.delivered_at,
        )
    refund = None
    if order.refund_status is not None:
        refund = RefundRecord(
            status=order.refund_status,
            amount=order.refund_amount if order.refund_amount is not None else order.amount,
            method=order.payment_method,
            reason=order.refund_reason,
            initiated_at=order.refund_initiated_at,
            expected_by=order.refund_expected_by,
        )
    return OrderRecord(
        id=order.id,
        customer_id=order.customer_id,
        placed_at=order.placed_at,
        status=order.status,
        amount=order.amount,
        shipping_fee=order.shipping_fee,
        payment_method=order.payment_method,
        items=[OrderItemRecord.model_validate(i) for i in order.items],
        shipment=shipment,
        refund=refund,
    )


class SqlBusinessData(BusinessData):
    """Each call is one short session in a worker thread; only ``create_ticket`` commits."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    async def _run(self, work: Callable[[Session], T], *, commit: bool = False) -> T:
        def unit() -> T:
            with self._sessions() as db_session:
                result = work(db_session)
                if commit:
                    db_session.commit()
                return result

        try:
            return await asyncio.to_thread(unit)
        except SQLAlchemyError as exc:  # a database outage reads as "unavailable", not a crash
            raise Unavailable(f"database error: {type(exc).__name__}") from exc

    async def customer_phone(self, *, customer_id: str) -> str | None:
        def work(db_session: Session) -> str | None:
            customer = service.get_customer(db_session=db_session, customer_id=customer_id)
            return None if customer is None else customer.phone

        return await self._run(work)

    async def get_bill(self, *, customer_id: str, month: str) -> BillRecord | None:
        def work(db_session: Session) -> BillRecord | None:
            bill = service.get_bill(db_session=db_session, customer_id=customer_id, month=month)
            return None if bill is None else BillRecord.model_validate(bill)

        return await self._run(work)

    async def get_order(self, *, customer_id: str, order_id: str) -> OrderRecord | None:
        def work(db_session: Session) -> OrderRecord | None:
            order = service.get_order(db_session=db_session, order_id=order_id)
            if order is None:
                return None
            if order.customer_id != customer_id:
                raise NotAllowed(f"order {order_id} belongs to another customer")
            return order_record(order)

        return await self._run(work)

    async def recent_orders(self, *, customer_id: str, limit: int) -> list[OrderRecord]:
        def work(db_session: Session) -> list[OrderRecord]:
            orders = service.recent_orders(
                db_session=db_session, customer_id=customer_id, limit=limit
            )
            return [order_record(o) for o in orders]

        return await self._run(work)

    async def get_membership(self, *, customer_id: str) -> MembershipRecord | None:
        def work(db_session: Session) -> MembershipRecord | None:
            found = service.get_membership(db_session=db_session, customer_id=customer_id)
            return None if found is None else MembershipRecord.model_validate(found)

        return await self._run(work)

    async def create_ticket(self, *, customer_id: str, ticket: NewTicket) -> TicketRecord:
        def work(db_session: Session) -> TicketRecord:
            if service.get_customer(db_session=db_session, customer_id=customer_id) is None:
                # The channel vouched for an id these tables don't know (e.g. a real customer
                # while only demo data is loaded): nowhere to file the ticket.
                raise Unavailable(f"no customer record for {customer_id}")
            row = service.create_ticket(
                db_session=db_session,
                customer_id=customer_id,
                conversation_id=ticket.conversation_id,
                category=ticket.category,
                summary=ticket.summary,
                reference=ticket.reference,
            )
            return TicketRecord.model_validate(row)

        return await self._run(work, commit=True)
