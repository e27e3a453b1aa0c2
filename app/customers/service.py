"""Queries on the customer tables: keyword-only, the session passed in, no commits."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.customers.models import (
    Bill,
    Customer,
    Membership,
    Order,
    Ticket,
    TicketCategory,
    TicketStatus,
)
from app.customers.schemas import BEIJING

_OPEN = (TicketStatus.OPEN, TicketStatus.IN_PROGRESS)


def get_customer(*, db_session: Session, customer_id: str) -> Customer | None:
    return db_session.get(Customer, customer_id)


def get_bill(*, db_session: Session, customer_id: str, month: str) -> Bill | None:
    stmt = (
        select(Bill)
        .where(Bill.customer_id == customer_id, Bill.month == month)
        .options(selectinload(Bill.items))
    )
    return db_session.scalars(stmt).one_or_none()


def get_order(*, db_session: Session, order_id: str) -> Order | None:
    """Any customer's order: the caller checks whose it is."""
    stmt = select(Order).where(Order.id == order_id).options(selectinload(Order.items))
    return db_session.scalars(stmt).one_or_none()


def recent_orders(*, db_session: Session, customer_id: str, limit: int) -> list[Order]:
    stmt = (
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(limit)
        .options(selectinload(Order.items))
    )
    return list(db_session.scalars(stmt))


def get_membership(*, db_session: Session, customer_id: str) -> Membership | None:
    stmt = (
        select(Membership)
        .where(Membership.customer_id == customer_id)
        .options(selectinload(Membership.history))
    )
    return db_session.scalars(stmt).one_or_none()


def new_ticket_id() -> str:
    # Date for the agent reading it, 8 random hex digits so ids are not guessable in sequence.
    return f"TK{datetime.now(BEIJING):%Y%m%d}{secrets.token_hex(4).upper()}"


def create_ticket(
    *,
    db_session: Session,
    customer_id: str,
    conversation_id: str,
    category: TicketCategory,
    summary: str,
    reference: str | None = None,
) -> Ticket:
    """Open a ticket; the same open ticket again in one conversation returns the first one.

    The model may repeat a tool call (a retry, a second round); one request is one ticket.
    """
    existing = db_session.scalars(
        select(Ticket).where(
            Ticket.customer_id == customer_id,
            Ticket.conversation_id == conversation_id,
            Ticket.category == category,
            Ticket.summary == summary,
            Ticket.status.in_(_OPEN),
        )
    ).first()
    if existing is not None:
        return existing
    ticket = Ticket(
        id=new_ticket_id(),
        customer_id=customer_id,
        conversation_id=conversation_id,
        category=category,
        summary=summary,
        reference=reference,
        status=TicketStatus.OPEN,
    )
    db_session.add(ticket)
    db_session.flush()
    return ticket


def list_tickets(*, db_session: Session, customer_id: str) -> list[Ticket]:
    stmt = select(Ticket).where(Ticket.customer_id == customer_id).order_by(Ticket.created_at)
    return list(db_session.scalars(stmt))
