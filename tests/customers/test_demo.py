"""The demo data set: idempotent to load and consistent with the policies in demo/kb."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.customers import service
from app.customers.demo import CUSTOMERS, PLANS, DemoCounts, load_demo
from app.customers.models import (
    Bill,
    BillCategory,
    BillItem,
    Customer,
    Membership,
    Order,
    OrderStatus,
    RefundStatus,
    TicketCategory,
    Tier,
)

# demo/kb/membership-and-points.md: qualifying spend over the last 12 months.
TIER_FLOOR = {
    Tier.STANDARD: Decimal(0),
    Tier.SILVER: Decimal(1000),
    Tier.GOLD: Decimal(3000),
    Tier.DIAMOND: Decimal(8000),
}
TIER_ORDER = [Tier.STANDARD, Tier.SILVER, Tier.GOLD, Tier.DIAMOND]


def _rows(db_session: Session) -> dict[str, int]:
    return {
        model.__tablename__: db_session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Customer, Bill, BillItem, Order, Membership)
    }


def test_load_twice_gives_the_same_rows(db_session: Session, demo: DemoCounts) -> None:
    assert demo == DemoCounts(customers=5, bills=15, orders=6, memberships=5)
    first = _rows(db_session)
    service.create_ticket(
        db_session=db_session,
        customer_id="C10001",
        conversation_id="c1",
        category=TicketCategory.BILLING,
        summary="账单有疑问",
    )
    db_session.commit()

    again = load_demo(db_session=db_session)
    db_session.commit()
    assert again == demo
    assert _rows(db_session) == first
    # Reloading resets the demo records but keeps what customers did since (their tickets).
    assert len(service.list_tickets(db_session=db_session, customer_id="C10001")) == 1


def test_bill_totals_add_up_and_use_the_published_prices(db_session: Session, demo: object) -> None:
    bills = db_session.scalars(select(Bill)).all()
    assert {b.month for b in bills} == {"2026-08", "2026-09", "2026-10"}
    for bill in bills:
        assert bill.total == sum((i.amount for i in bill.items), Decimal(0)), bill.month
        assert bill.items[0].category is BillCategory.PLAN_FEE
        assert bill.items[0].amount == PLANS[bill.plan]
        for item in bill.items:
            if item.category is BillCategory.DATA_OVERAGE:
                assert item.unit_price == Decimal("5.00") and item.unit == "GB"  # 5元/GB
            if item.category is BillCategory.VOICE_OVERAGE:
                assert item.unit_price == Decimal("0.15")  # 0.15元/分钟
            if item.quantity is not None and item.unit_price is not None:
                assert item.amount == abs(item.quantity * item.unit_price) * (
                    -1 if item.category is BillCategory.DISCOUNT else 1
                )


def test_each_demo_customer_shows_their_situation(db_session: Session, demo: object) -> None:
    def bill(customer_id: str, month: str) -> Bill:
        found = service.get_bill(db_session=db_session, customer_id=customer_id, month=month)
        assert found is not None
        return found

    # C10001: October's bill doubled because of data overage.
    assert bill("C10001", "2026-10").total >= 2 * bill("C10001", "2026-09").total
    assert any(i.category is BillCategory.DATA_OVERAGE for i in bill("C10001", "2026-10").items)
    # C10002: a phone on its way; C10003: a refund under way.
    in_transit = db_session.get(Order, "YF202611200137")
    assert in_transit is not None and in_transit.customer_id == "C10002"
    assert in_transit.status is OrderStatus.SHIPPED and in_transit.delivered_at is None
    assert in_transit.tracking_no
    refund = db_session.get(Order, "YF202611100285")
    assert refund is not None and refund.customer_id == "C10003"
    assert refund.refund_status is RefundStatus.PROCESSING and refund.refund_expected_by
    # C10004: down one tier at the annual review, with the reason.
    c4 = service.get_membership(db_session=db_session, customer_id="C10004")
    assert c4 is not None and c4.tier is Tier.SILVER
    last = c4.history[-1]
    assert (last.from_tier, last.to_tier) == (Tier.GOLD, Tier.SILVER) and "3,000" in last.reason
    # C10005: Diamond.
    c5 = service.get_membership(db_session=db_session, customer_id="C10005")
    assert c5 is not None and c5.tier is Tier.DIAMOND


def test_memberships_follow_the_programme_rules(db_session: Session, demo: object) -> None:
    assert len(CUSTOMERS) == 5
    for membership in db_session.scalars(select(Membership)):
        tier = membership.tier
        assert membership.history[-1].to_tier is tier
        # Monthly upgrade checks: the spend fits the tier and has not reached the next one.
        assert membership.qualifying_spend >= TIER_FLOOR[tier]
        if tier is not Tier.DIAMOND:
            assert membership.qualifying_spend < TIER_FLOOR[TIER_ORDER[TIER_ORDER.index(tier) + 1]]
        previous = None
        for change in membership.history:
            assert change.from_tier is previous
            if previous is not None and TIER_ORDER.index(change.to_tier) < TIER_ORDER.index(
                previous
            ):
                # Downgrades: one tier at most per review.
                assert TIER_ORDER.index(previous) - TIER_ORDER.index(change.to_tier) == 1
            previous = change.to_tier
        assert membership.points_expiring <= membership.points
