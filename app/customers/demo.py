"""The demo customers of 云帆通信 Yunfan Mobile, consistent with the policies in demo/kb.

Five customers, each showing one situation the tools must explain: a bill that doubled
because of data overage, an order in transit, a refund under way, a tier downgrade with its
reason, a Diamond member. Bills cover 2026-08 to 2026-10 (issued on the 3rd of the next
month, prepaid, so already settled); orders and "now" sit in late November 2026.

Loading is idempotent: a run resets these customers' bills, orders and memberships to the
data below and leaves everything else (their tickets, other customers) alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.customers.models import (
    Bill,
    BillCategory,
    BillItem,
    BillStatus,
    Customer,
    Membership,
    Order,
    OrderItem,
    OrderStatus,
    PaymentMethod,
    RefundStatus,
    Tier,
    TierChange,
)
from app.customers.schemas import BEIJING

D = Decimal
C = BillCategory

PLANS = {
    "轻享卡": D("29.00"),
    "畅享套餐": D("59.00"),
    "尊享套餐": D("99.00"),
    "无限套餐": D("159.00"),
}
MONTHS = ("2026-08", "2026-09", "2026-10")
_ISSUED = {"2026-08": date(2026, 9, 3), "2026-09": date(2026, 10, 3), "2026-10": date(2026, 11, 3)}

# (id, name, phone, plan, joined)
CUSTOMERS = [
    ("C10001", "张伟", "13800010001", "畅享套餐", date(2024, 5, 12)),  # Oct bill doubled
    ("C10002", "李娜", "13800010002", "尊享套餐", date(2025, 3, 10)),  # phone in transit
    ("C10003", "王芳", "13800010003", "畅享套餐", date(2025, 6, 20)),  # refund pending
    ("C10004", "刘洋", "13800010004", "尊享套餐", date(2023, 7, 15)),  # Gold → Silver
    ("C10005", "陈静", "13800010005", "无限套餐", date(2024, 1, 8)),  # Diamond
]

# Extra lines per (customer, month) on top of the plan fee:
# (category, description, amount, quantity, unit, unit price)
Line = tuple[BillCategory, str, str, str | None, str | None, str | None]
EXTRAS: dict[tuple[str, str], list[Line]] = {
    ("C10001", "2026-08"): [(C.SMS, "国内短信 3条 × 0.1元/条", "0.30", "3", "条", "0.10")],
    ("C10001", "2026-09"): [(C.SMS, "国内短信 5条 × 0.1元/条", "0.50", "5", "条", "0.10")],
    ("C10001", "2026-10"): [
        (C.DATA_OVERAGE, "国内流量超出 12GB × 5元/GB", "60.00", "12", "GB", "5.00"),
        (C.SMS, "国内短信 4条 × 0.1元/条", "0.40", "4", "条", "0.10"),
    ],
    ("C10002", "2026-08"): [(C.SMS, "国内短信 2条 × 0.1元/条", "0.20", "2", "条", "0.10")],
    ("C10002", "2026-10"): [
        (C.THIRD_PARTY, "视频会员月卡（第三方代收）", "15.00", None, None, None)
    ],
    ("C10003", "2026-09"): [
        (C.VALUE_ADDED, "流量加油包 5GB × 1次", "10.00", "1", "次", "10.00"),
    ],
    ("C10003", "2026-10"): [(C.SMS, "国内短信 6条 × 0.1元/条", "0.60", "6", "条", "0.10")],
    ("C10004", "2026-09"): [
        (C.ROAMING, "国际漫游日包 亚太B区（日本）2天 × 25元/天", "50.00", "2", "天", "25.00"),
    ],
    ("C10005", "2026-08"): [
        (C.ROAMING, "国际漫游日包 欧洲C区（法国）6天 × 35元/天", "210.00", "6", "天", "35.00"),
        (C.DISCOUNT, "钻石卡免费日包券抵扣 4天", "-140.00", "4", "天", "35.00"),
    ],
    ("C10005", "2026-10"): [
        (C.VOICE_OVERAGE, "国内语音超出 120分钟 × 0.15元/分钟", "18.00", "120", "分钟", "0.15"),
    ],
}


def _at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A Beijing wall-clock time, stored in UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=BEIJING).astimezone(UTC)


def _items(*items: tuple[str, int, str]) -> list[OrderItem]:
    return [
        OrderItem(position=n, name=name, quantity=qty, unit_price=D(price))
        for n, (name, qty, price) in enumerate(items, 1)
    ]


def _orders() -> dict[str, list[Order]]:
    paid, card, balance = (
        PaymentMethod.THIRD_PARTY,
        PaymentMethod.CREDIT_CARD,
        PaymentMethod.BALANCE,
    )
    return {
        "C10001": [
            # Under 99 yuan, so 10 yuan shipping; cancelled before shipping, refunded to balance.
            Order(
                id="YF202610280311",
                placed_at=_at(2026, 10, 28, 20, 15),
                amount=D("39.00"),
                shipping_fee=D("10.00"),
                payment_method=balance,
                status=OrderStatus.CANCELLED,
                items=_items(("云帆 Type-C 数据线 1m", 1, "29.00")),
                refund_status=RefundStatus.REFUNDED,
                refund_amount=D("39.00"),
                refund_reason="买家取消订单（待发货）",
                refund_initiated_at=_at(2026, 10, 28, 21, 2),
                refund_expected_by=date(2026, 10, 29),
            ),
        ],
        "C10002": [
            Order(
                id="YF202609050412",
                placed_at=_at(2026, 9, 5, 11, 20),
                amount=D("129.00"),
                payment_method=paid,
                status=OrderStatus.COMPLETED,
                items=_items(("云帆 65W 快充充电器", 1, "129.00")),
                carrier="中通快递",
                tracking_no="ZT78410093512",
                shipped_at=_at(2026, 9, 5, 15, 30),
                delivered_at=_at(2026, 9, 7, 10, 45),
            ),
            # Paid before 16:00, so shipped the same day; still on its way.
            Order(
                id="YF202611200137",
                placed_at=_at(2026, 11, 20, 10, 12),
                amount=D("2538.00"),
                payment_method=card,
                status=OrderStatus.SHIPPED,
                items=_items(
                    ("云帆 Nova 12 手机 8GB+256GB 曜石黑", 1, "2499.00"),
                    ("云帆 Nova 12 硅胶保护壳", 1, "39.00"),
                ),
                carrier="顺丰速运",
                tracking_no="SF1408822736451",
                shipped_at=_at(2026, 11, 20, 15, 40),
            ),
        ],
        "C10003": [
            # Returned unopened within 7 days; checked 2 working days after the warehouse got
            # it; third-party refunds take 1–3 working days from 11-20 (a Friday).
            Order(
                id="YF202611100285",
                placed_at=_at(2026, 11, 10, 9, 30),
                amount=D("299.00"),
                payment_method=paid,
                status=OrderStatus.AFTER_SALES,
                items=_items(("云帆 Buds 2 真无线降噪耳机 白色", 1, "299.00")),
                carrier="中通快递",
                tracking_no="ZT78451236980",
                shipped_at=_at(2026, 11, 10, 14, 5),
                delivered_at=_at(2026, 11, 12, 18, 20),
                refund_status=RefundStatus.PROCESSING,
                refund_amount=D("299.00"),
                refund_reason="7天无理由退货（商品未拆封）",
                refund_initiated_at=_at(2026, 11, 20, 11, 0),
                refund_expected_by=date(2026, 11, 25),
            ),
        ],
        "C10005": [
            # Over 1,000 yuan, so instalments were allowed; this purchase took her to Diamond.
            Order(
                id="YF202603150088",
                placed_at=_at(2026, 3, 15, 20, 48),
                amount=D("6498.00"),
                payment_method=PaymentMethod.CREDIT_INSTALMENTS,
                status=OrderStatus.COMPLETED,
                items=_items(
                    ("云帆 Pad Pro 12.4英寸 12GB+512GB", 1, "5999.00"),
                    ("云帆 手写笔 2代", 1, "499.00"),
                ),
                carrier="顺丰速运",
                tracking_no="SF1402264519870",
                shipped_at=_at(2026, 3, 16, 10, 10),
                delivered_at=_at(2026, 3, 17, 14, 32),
            ),
            # Paid after 16:00, so it ships the next day.
            Order(
                id="YF202611210056",
                placed_at=_at(2026, 11, 21, 17, 25),
                amount=D("149.00"),
                payment_method=paid,
                status=OrderStatus.AWAITING_SHIPMENT,
                items=_items(("云帆 20000mAh 移动电源", 1, "149.00")),
            ),
        ],
    }


# (tier, valid until, qualifying spend, points, expiring on 2026-12-31, history)
History = list[tuple[date, Tier | None, Tier, str]]
S, SI, G, DI = Tier.STANDARD, Tier.SILVER, Tier.GOLD, Tier.DIAMOND
JOINED = "开户入会"
MEMBERSHIPS: dict[str, tuple[Tier, date | None, str, int, int, History]] = {
    "C10001": (S, None, "775.20", 1320, 610, [(date(2024, 5, 12), None, S, JOINED)]),
    "C10002": (
        SI,
        date(2027, 1, 31),
        "1317.00",
        2150,
        380,
        [
            (date(2025, 3, 10), None, S, JOINED),
            (date(2026, 2, 1), S, SI, "近12个月消费满1,000元"),
        ],
    ),
    "C10003": (S, None, "718.60", 1045, 420, [(date(2025, 6, 20), None, S, JOINED)]),
    "C10004": (
        SI,
        date(2027, 8, 31),
        "2298.50",
        3480,
        1200,
        [
            (date(2023, 7, 15), None, S, JOINED),
            (date(2024, 3, 1), S, SI, "近12个月消费满1,000元"),
            (date(2025, 9, 1), SI, G, "近12个月消费满3,000元（含云帆商城购机）"),
            (
                date(2026, 9, 1),
                G,
                SI,
                "年度复核：近12个月消费2,316元，未达金卡门槛3,000元，每次复核最多降一级，降为银卡",
            ),
        ],
    ),
    "C10005": (
        DI,
        date(2027, 3, 31),
        "9236.00",
        18640,
        5200,
        [
            (date(2024, 1, 8), None, S, "开户入会（携号转入）"),
            (date(2024, 2, 1), S, SI, "近12个月消费满1,000元"),
            (date(2024, 10, 1), SI, G, "近12个月消费满3,000元"),
            (date(2026, 4, 1), G, DI, "近12个月消费满8,000元（含云帆商城平板订单）"),
        ],
    ),
}


def _bill(customer_id: str, plan: str, month: str) -> Bill:
    fee = PLANS[plan]
    lines: list[Line] = [(C.PLAN_FEE, f"{plan} 月租", str(fee), None, None, None)]
    lines += EXTRAS.get((customer_id, month), [])
    items = [
        BillItem(
            position=n,
            category=cat,
            description=text,
            amount=D(amount),
            quantity=None if qty is None else D(qty),
            unit=unit,
            unit_price=None if price is None else D(price),
        )
        for n, (cat, text, amount, qty, unit, price) in enumerate(lines, 1)
    ]
    return Bill(
        month=month,
        plan=plan,
        total=sum((i.amount for i in items), D("0.00")),
        issued_on=_ISSUED[month],
        due_date=None,
        status=BillStatus.PAID,
        items=items,
    )


def _membership(customer_id: str) -> Membership:
    tier, until, spend, points, expiring, history = MEMBERSHIPS[customer_id]
    return Membership(
        tier=tier,
        tier_valid_until=until,
        qualifying_spend=D(spend),
        points=points,
        points_expiring=expiring,
        points_expire_on=date(2026, 12, 31) if expiring else None,
        history=[
            TierChange(changed_on=on, from_tier=before, to_tier=after, reason=reason)
            for on, before, after, reason in history
        ],
    )


@dataclass(frozen=True)
class DemoCounts:
    customers: int
    bills: int
    orders: int
    memberships: int


def load_demo(*, db_session: Session) -> DemoCounts:
    """Create or reset the demo customers; the caller commits."""
    orders = _orders()
    loaded: list[Customer] = []
    for customer_id, name, phone, plan, joined in CUSTOMERS:
        customer = db_session.get(Customer, customer_id)
        if customer is None:
            customer = Customer(
                id=customer_id, created_at=_at(joined.year, joined.month, joined.day, 9, 0)
            )
            db_session.add(customer)
        customer.name, customer.phone, customer.plan = name, phone, plan
        # Clear first and flush, so re-inserted orders don't collide with their old rows.
        customer.bills, customer.orders, customer.membership = [], [], None
        loaded.append(customer)
    db_session.flush()
    for customer in loaded:
        customer.bills = [_bill(customer.id, customer.plan, m) for m in MONTHS]
        customer.orders = orders.get(customer.id, [])
        customer.membership = _membership(customer.id)
    db_session.flush()
    return count_demo(db_session=db_session)


def count_demo(*, db_session: Session) -> DemoCounts:
    ids = [c[0] for c in CUSTOMERS]

    def n(column: InstrumentedAttribute[str]) -> int:
        return db_session.scalar(select(func.count()).where(column.in_(ids))) or 0

    return DemoCounts(
        customers=n(Customer.id),
        bills=n(Bill.customer_id),
        orders=n(Order.customer_id),
        memberships=n(Membership.customer_id),
    )
