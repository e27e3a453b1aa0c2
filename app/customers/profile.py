"""A customer's records in one view, for the human agent holding their conversation.

The same ``BusinessData`` the agent's tools read, so an agent sees what the bot saw. A part
the source cannot give (down, or no such endpoint) is named in ``unavailable`` and the rest
is still shown: an agent with the orders but not the bills can still help.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from datetime import datetime
from typing import TypeVar

from app.customers.schemas import BEIJING, BillRecord, CustomerProfile
from app.customers.source import BusinessData, BusinessDataError

log = logging.getLogger(__name__)

T = TypeVar("T")
RECENT_ORDERS = 5
BILL_MONTHS = 3


def recent_months(now: datetime, count: int) -> list[str]:
    """``count`` billing months up to the current one (Beijing time), newest first."""
    local = now.astimezone(BEIJING)
    index = local.year * 12 + local.month - 1
    return [f"{(index - i) // 12:04d}-{(index - i) % 12 + 1:02d}" for i in range(count)]


async def _part(name: str, call: Awaitable[T], missing: list[str]) -> T | None:
    try:
        return await call
    except BusinessDataError as exc:
        log.warning("customer profile: %s unavailable: %s", name, type(exc).__name__)
        missing.append(name)
        return None


async def profile(
    source: BusinessData,
    *,
    customer_id: str,
    now: datetime,
    orders: int = RECENT_ORDERS,
    months: int = BILL_MONTHS,
) -> CustomerProfile:
    # One call at a time: a source may be one database connection, and the panel is read
    # once per opened conversation.
    missing: list[str] = []

    async def bills() -> list[BillRecord]:
        found = [
            await source.get_bill(customer_id=customer_id, month=m)
            for m in recent_months(now, months)
        ]
        return [b for b in found if b is not None]

    membership = await _part("membership", source.get_membership(customer_id=customer_id), missing)
    recent = await _part(
        "orders", source.recent_orders(customer_id=customer_id, limit=orders), missing
    )
    billed = await _part("bills", bills(), missing)
    return CustomerProfile(
        customer_id=customer_id,
        membership=membership,
        orders=recent or [],
        bills=billed or [],
        unavailable=sorted(missing),
    )
