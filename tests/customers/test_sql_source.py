"""The SQL business-data backend on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from app.customers import service
from app.customers.models import OrderStatus, PaymentMethod, RefundStatus, TicketCategory, Tier
from app.customers.schemas import NewTicket
from app.customers.source import NotAllowed, Unavailable
from app.customers.sql import SqlBusinessData


async def test_bill_with_items_and_overage(sql_source: SqlBusinessData) -> None:
    bill = await sql_source.get_bill(customer_id="C10001", month="2026-10")
    assert bill is not None
    assert bill.total == Decimal("119.40") and bill.overage_total == Decimal("60.00")
    assert [i.category.value for i in bill.items] == ["plan_fee", "data_overage", "sms"]
    dumped = bill.model_dump(mode="json")
    assert dumped["total"] == "119.40"  # money as strings, never floats
    assert dumped["items"][1]["quantity"] == "12" and dumped["items"][1]["unit_price"] == "5.00"
    assert await sql_source.get_bill(customer_id="C10001", month="2026-11") is None
    assert await sql_source.get_bill(customer_id="C99999", month="2026-10") is None


async def test_order_in_transit_in_beijing_time(sql_source: SqlBusinessData) -> None:
    order = await sql_source.get_order(customer_id="C10002", order_id="YF202611200137")
    assert order is not None and order.status is OrderStatus.SHIPPED
    assert order.shipment is not None and order.shipment.carrier == "顺丰速运"
    assert order.shipment.shipped_at is not None
    assert order.shipment.shipped_at.utcoffset() == timedelta(hours=8)
    assert order.shipment.shipped_at.hour == 15  # paid before 16:00, shipped the same day
    assert order.refund is None
    assert order.items[0].name.startswith("云帆 Nova 12")


async def test_refund_goes_back_the_way_it_was_paid(sql_source: SqlBusinessData) -> None:
    order = await sql_source.get_order(customer_id="C10003", order_id="YF202611100285")
    assert order is not None and order.refund is not None
    assert order.refund.status is RefundStatus.PROCESSING
    assert order.refund.method is PaymentMethod.THIRD_PARTY
    assert order.refund.amount == Decimal("299.00")
    assert str(order.refund.expected_by) == "2026-11-25"


async def test_another_customers_order_is_refused(sql_source: SqlBusinessData) -> None:
    with pytest.raises(NotAllowed):
        await sql_source.get_order(customer_id="C10001", order_id="YF202611200137")
    assert await sql_source.get_order(customer_id="C10001", order_id="YF000000000000") is None


async def test_recent_orders_newest_first(sql_source: SqlBusinessData) -> None:
    orders = await sql_source.recent_orders(customer_id="C10002", limit=3)
    assert [o.id for o in orders] == ["YF202611200137", "YF202609050412"]
    assert await sql_source.recent_orders(customer_id="C10004", limit=3) == []


async def test_membership_with_history(sql_source: SqlBusinessData) -> None:
    membership = await sql_source.get_membership(customer_id="C10005")
    assert membership is not None and membership.tier is Tier.DIAMOND
    assert membership.points_multiplier == Decimal("2")
    assert [h.to_tier for h in membership.history][-1] is Tier.DIAMOND


async def test_create_ticket_once_per_request(
    sql_source: SqlBusinessData, db_session: Session
) -> None:
    new = NewTicket(
        conversation_id="conv-1", category=TicketCategory.ORDER, summary="快递三天没有更新"
    )
    first = await sql_source.create_ticket(customer_id="C10002", ticket=new)
    again = await sql_source.create_ticket(customer_id="C10002", ticket=new)
    assert first.id == again.id and first.id.startswith("TK")
    other = await sql_source.create_ticket(
        customer_id="C10002", ticket=new.model_copy(update={"summary": "另一个问题"})
    )
    assert other.id != first.id
    rows = service.list_tickets(db_session=db_session, customer_id="C10002")
    assert sorted(t.id for t in rows) == sorted([first.id, other.id])


async def test_ticket_for_an_unknown_customer_is_unavailable(sql_source: SqlBusinessData) -> None:
    new = NewTicket(conversation_id="c", category=TicketCategory.OTHER, summary="hello")
    with pytest.raises(Unavailable):
        await sql_source.create_ticket(customer_id="C99999", ticket=new)
