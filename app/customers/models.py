"""Customer records the support agent's tools read: bills, store orders, memberships, tickets.

These tables are the embedded business-data backend (the demo data set lives here); a company
with its own systems points the HTTP backend at its REST API instead and leaves them empty.
Money is ``Numeric(10, 2)``; timestamps are stored in UTC.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, BigId, TimestampMixin, str_enum

Money = Numeric(10, 2)


class BillStatus(enum.StrEnum):
    PAID = "paid"
    UNPAID = "unpaid"


class BillCategory(enum.StrEnum):
    """The sections of a Yunfan bill (demo/kb: plans-and-billing, 如何看懂账单)."""

    PLAN_FEE = "plan_fee"
    DATA_OVERAGE = "data_overage"
    VOICE_OVERAGE = "voice_overage"
    SMS = "sms"
    VALUE_ADDED = "value_added"
    ROAMING = "roaming"
    THIRD_PARTY = "third_party"
    DISCOUNT = "discount"


class OrderStatus(enum.StrEnum):
    """Store order states, as the store policy names them (demo/kb: store-orders-returns)."""

    PENDING_PAYMENT = "pending_payment"
    AWAITING_SHIPMENT = "awaiting_shipment"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    AFTER_SALES = "after_sales"
    CANCELLED = "cancelled"


class RefundStatus(enum.StrEnum):
    PROCESSING = "processing"
    REFUNDED = "refunded"


class PaymentMethod(enum.StrEnum):
    """Refunds always go back the way the customer paid, so this is also the refund route."""

    THIRD_PARTY = "third_party"
    DEBIT_CARD = "debit_card"
    CREDIT_CARD = "credit_card"
    CREDIT_INSTALMENTS = "credit_instalments"
    BALANCE = "balance"
    POINTS = "points"


class Tier(enum.StrEnum):
    STANDARD = "standard"
    SILVER = "silver"
    GOLD = "gold"
    DIAMOND = "diamond"


class TicketCategory(enum.StrEnum):
    BILLING = "billing"
    ORDER = "order"
    MEMBERSHIP = "membership"
    NETWORK = "network"
    COMPLAINT = "complaint"
    OTHER = "other"


class TicketStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Customer(TimestampMixin, Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    # Personal data: never logged unmasked (app.core.logging masks mobile numbers).
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    plan: Mapped[str] = mapped_column(String(32))

    bills: Mapped[list[Bill]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="Bill.month"
    )
    orders: Mapped[list[Order]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="Order.placed_at"
    )
    membership: Mapped[Membership | None] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )


class Bill(Base):
    __tablename__ = "bills"
    __table_args__ = (UniqueConstraint("customer_id", "month"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    month: Mapped[str] = mapped_column(String(7))  # "YYYY-MM", the billing cycle
    plan: Mapped[str] = mapped_column(String(32))  # the plan in force that month
    total: Mapped[Decimal] = mapped_column(Money)
    issued_on: Mapped[date] = mapped_column(Date)
    # Prepaid accounts (Yunfan's model) settle from the balance as they go and have none.
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[BillStatus] = mapped_column(str_enum(BillStatus, "bill_status"))

    items: Mapped[list[BillItem]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="BillItem.position"
    )


class BillItem(Base):
    __tablename__ = "bill_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    category: Mapped[BillCategory] = mapped_column(str_enum(BillCategory, "bill_category"))
    description: Mapped[str] = mapped_column(String(128))
    amount: Mapped[Decimal] = mapped_column(Money)  # negative for discounts
    quantity: Mapped[Decimal | None] = mapped_column(Numeric(10, 2), nullable=True)
    unit: Mapped[str | None] = mapped_column(String(16), nullable=True)
    unit_price: Mapped[Decimal | None] = mapped_column(Money, nullable=True)


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    placed_at: Mapped[datetime]
    amount: Mapped[Decimal] = mapped_column(Money)  # paid, shipping included
    shipping_fee: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    payment_method: Mapped[PaymentMethod] = mapped_column(
        str_enum(PaymentMethod, "payment_method", 24)
    )
    status: Mapped[OrderStatus] = mapped_column(str_enum(OrderStatus, "order_status", 24))
    carrier: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tracking_no: Mapped[str | None] = mapped_column(String(40), nullable=True)
    shipped_at: Mapped[datetime | None] = mapped_column(nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    refund_status: Mapped[RefundStatus | None] = mapped_column(
        str_enum(RefundStatus, "refund_status"), nullable=True
    )
    refund_amount: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    refund_reason: Mapped[str | None] = mapped_column(String(128), nullable=True)
    refund_initiated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    refund_expected_by: Mapped[date | None] = mapped_column(Date, nullable=True)

    items: Mapped[list[OrderItem]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="OrderItem.position"
    )


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(128))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money)


class Membership(Base):
    __tablename__ = "memberships"

    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    tier: Mapped[Tier] = mapped_column(str_enum(Tier, "membership_tier"))
    tier_valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    # Spend over the last 12 months that counts towards tiers, as of the last monthly check.
    qualifying_spend: Mapped[Decimal] = mapped_column(Money)
    points: Mapped[int] = mapped_column(Integer)
    points_expiring: Mapped[int] = mapped_column(Integer, default=0)
    points_expire_on: Mapped[date | None] = mapped_column(Date, nullable=True)

    history: Mapped[list[TierChange]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="TierChange.changed_on"
    )


class TierChange(Base):
    __tablename__ = "membership_tier_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("memberships.customer_id", ondelete="CASCADE"), index=True
    )
    changed_on: Mapped[date] = mapped_column(Date)
    # None: the customer joined. Distinct enum names keep the CHECK constraint names apart.
    from_tier: Mapped[Tier | None] = mapped_column(str_enum(Tier, "from_tier"), nullable=True)
    to_tier: Mapped[Tier] = mapped_column(str_enum(Tier, "to_tier"))
    reason: Mapped[str] = mapped_column(String(255))


class Ticket(TimestampMixin, Base):
    __tablename__ = "tickets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    # No foreign key: tickets also come from channels without a stored conversation.
    conversation_id: Mapped[str] = mapped_column(String(64), index=True)
    category: Mapped[TicketCategory] = mapped_column(str_enum(TicketCategory, "ticket_category"))
    summary: Mapped[str] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[TicketStatus] = mapped_column(
        str_enum(TicketStatus, "ticket_status"), default=TicketStatus.OPEN
    )
