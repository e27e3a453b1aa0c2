"""The records a business-data source returns, whichever backend produced them.

They are also the JSON contract of the HTTP backend (a company's API answers with these
fields; extra fields are ignored) and, dumped with ``mode="json"``, what the tools hand the
model. Money is serialised as a string with two decimals ("119.40"), never as a float;
timestamps as ISO 8601 in Beijing time, because that is the time customers talk in.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, computed_field

from app.customers.models import (
    BillCategory,
    BillStatus,
    OrderStatus,
    PaymentMethod,
    RefundStatus,
    TicketCategory,
    TicketStatus,
    Tier,
)

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
CENT = Decimal("0.01")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


def _plain_number(value: Decimal) -> str:
    # 12.00 GB reads as "12", 0.5 GB as "0.5".
    return format(value.normalize(), "f")


def _beijing(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(BEIJING)


Money = Annotated[
    Decimal,
    AfterValidator(_cents),
    PlainSerializer(lambda v: f"{v:.2f}", return_type=str, when_used="json"),
]
Quantity = Annotated[Decimal, PlainSerializer(_plain_number, return_type=str, when_used="json")]
Timestamp = Annotated[datetime, AfterValidator(_beijing)]

BILL_STATUS_LABELS = {BillStatus.PAID: "已结清", BillStatus.UNPAID: "未结清"}
CATEGORY_LABELS = {
    BillCategory.PLAN_FEE: "套餐月租",
    BillCategory.DATA_OVERAGE: "套餐外流量费",
    BillCategory.VOICE_OVERAGE: "套餐外语音费",
    BillCategory.SMS: "短信费",
    BillCategory.VALUE_ADDED: "增值业务费",
    BillCategory.ROAMING: "漫游费",
    BillCategory.THIRD_PARTY: "代收费",
    BillCategory.DISCOUNT: "优惠减免",
}
OVERAGE = {BillCategory.DATA_OVERAGE, BillCategory.VOICE_OVERAGE}
ORDER_STATUS_LABELS = {
    OrderStatus.PENDING_PAYMENT: "待付款",
    OrderStatus.AWAITING_SHIPMENT: "待发货",
    OrderStatus.SHIPPED: "已发货",
    OrderStatus.DELIVERED: "已签收",
    OrderStatus.COMPLETED: "已完成",
    OrderStatus.AFTER_SALES: "售后中",
    OrderStatus.CANCELLED: "已取消",
}
REFUND_STATUS_LABELS = {RefundStatus.PROCESSING: "退款中", RefundStatus.REFUNDED: "已退款"}
PAYMENT_LABELS = {
    PaymentMethod.THIRD_PARTY: "第三方支付账户",
    PaymentMethod.DEBIT_CARD: "银行借记卡",
    PaymentMethod.CREDIT_CARD: "信用卡",
    PaymentMethod.CREDIT_INSTALMENTS: "信用卡分期",
    PaymentMethod.BALANCE: "话费余额",
    PaymentMethod.POINTS: "积分",
}
TIER_LABELS = {
    Tier.STANDARD: "普通会员",
    Tier.SILVER: "银卡",
    Tier.GOLD: "金卡",
    Tier.DIAMOND: "钻石卡",
}
POINTS_MULTIPLIER = {
    Tier.STANDARD: Decimal("1"),
    Tier.SILVER: Decimal("1.2"),
    Tier.GOLD: Decimal("1.5"),
    Tier.DIAMOND: Decimal("2"),
}
TICKET_STATUS_LABELS = {
    TicketStatus.OPEN: "已受理",
    TicketStatus.IN_PROGRESS: "处理中",
    TicketStatus.RESOLVED: "已解决",
    TicketStatus.CLOSED: "已结案",
}


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", from_attributes=True)


class BillItemRecord(Record):
    category: BillCategory
    description: str = Field(max_length=128)
    amount: Money
    quantity: Quantity | None = None
    unit: str | None = Field(None, max_length=16)
    unit_price: Money | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def category_label(self) -> str:
        return CATEGORY_LABELS[self.category]


class BillRecord(Record):
    customer_id: str
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    plan: str | None = None
    total: Money
    currency: str = "CNY"
    status: BillStatus
    issued_on: date | None = None
    due_date: date | None = None
    items: list[BillItemRecord] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_label(self) -> str:
        return BILL_STATUS_LABELS[self.status]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def overage_total(self) -> Money:
        """Charges beyond the plan's allowance (data and voice), the usual reason a bill jumps."""
        return sum((i.amount for i in self.items if i.category in OVERAGE), Decimal("0.00"))


class OrderItemRecord(Record):
    name: str = Field(max_length=128)
    quantity: int = Field(ge=1)
    unit_price: Money


class ShipmentRecord(Record):
    carrier: str | None = None
    tracking_no: str | None = None
    shipped_at: Timestamp | None = None
    delivered_at: Timestamp | None = None


class RefundRecord(Record):
    status: RefundStatus
    amount: Money
    method: PaymentMethod  # refunds go back the way the customer paid
    reason: str | None = None
    initiated_at: Timestamp | None = None  # refund times count from here
    expected_by: date | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_label(self) -> str:
        return REFUND_STATUS_LABELS[self.status]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def method_label(self) -> str:
        return PAYMENT_LABELS[self.method]


class OrderRecord(Record):
    id: str
    customer_id: str
    placed_at: Timestamp
    status: OrderStatus
    amount: Money
    shipping_fee: Money = Decimal("0.00")
    currency: str = "CNY"
    payment_method: PaymentMethod
    items: list[OrderItemRecord] = Field(default_factory=list)
    shipment: ShipmentRecord | None = None
    refund: RefundRecord | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_label(self) -> str:
        return ORDER_STATUS_LABELS[self.status]


class TierChangeRecord(Record):
    changed_on: date
    from_tier: Tier | None = None
    to_tier: Tier
    reason: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def change(self) -> str:
        before = TIER_LABELS[self.from_tier] if self.from_tier else "入会"
        return f"{before} → {TIER_LABELS[self.to_tier]}"


class MembershipRecord(Record):
    customer_id: str
    tier: Tier
    tier_valid_until: date | None = None
    qualifying_spend: Money
    points: int = Field(ge=0)
    points_expiring: int = Field(0, ge=0)
    points_expire_on: date | None = None
    history: list[TierChangeRecord] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tier_label(self) -> str:
        return TIER_LABELS[self.tier]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def points_multiplier(self) -> Quantity:
        return POINTS_MULTIPLIER[self.tier]


class NewTicket(Record):
    conversation_id: str = Field(max_length=64)
    category: TicketCategory
    summary: str = Field(min_length=1, max_length=500)
    reference: str | None = Field(None, max_length=32)


class TicketRecord(Record):
    id: str
    customer_id: str
    conversation_id: str | None = None
    category: TicketCategory
    summary: str
    reference: str | None = None
    status: TicketStatus = TicketStatus.OPEN
    created_at: Timestamp | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_label(self) -> str:
        return TICKET_STATUS_LABELS[self.status]


class CustomerProfile(BaseModel):
    """What an agent sees beside a conversation: the customer's records from the source."""

    customer_id: str
    membership: MembershipRecord | None = None
    orders: list[OrderRecord] = Field(default_factory=list, description="Newest first.")
    bills: list[BillRecord] = Field(default_factory=list, description="Newest month first.")
    unavailable: list[str] = Field(
        default_factory=list,
        description="Parts the source could not answer (membership, orders, bills).",
    )
