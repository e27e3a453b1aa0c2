"""A customer's records in one view (the agent's side panel), from the SQL source."""

from __future__ import annotations

from datetime import UTC, datetime

from app.customers.profile import profile, recent_months
from app.customers.schemas import BillRecord, MembershipRecord, OrderRecord
from app.customers.source import Unavailable, Unsupported
from app.customers.sql import SqlBusinessData

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_recent_months_cross_the_year_in_beijing_time() -> None:
    assert recent_months(datetime(2026, 1, 31, 17, 0, tzinfo=UTC), 3) == [
        "2026-02",  # already 1 February in Beijing
        "2026-01",
        "2025-12",
    ]


async def test_bills_orders_and_membership(sql_source: SqlBusinessData) -> None:
    found = await profile(sql_source, customer_id="C10001", now=NOW)
    assert [b.month for b in found.bills] == ["2026-10", "2026-09"]  # no November bill yet
    assert found.membership is not None and found.membership.customer_id == "C10001"
    assert found.orders and found.unavailable == []
    nobody = await profile(sql_source, customer_id="C99999", now=NOW)
    assert (nobody.membership, nobody.orders, nobody.bills) == (None, [], [])


class HalfDown(SqlBusinessData):
    async def get_bill(self, *, customer_id: str, month: str) -> BillRecord | None:
        raise Unavailable("billing is down")

    async def recent_orders(self, *, customer_id: str, limit: int) -> list[OrderRecord]:
        raise Unsupported("no order list")

    async def get_membership(self, *, customer_id: str) -> MembershipRecord | None:
        return await super().get_membership(customer_id=customer_id)


async def test_a_part_the_source_cannot_give_is_named_and_the_rest_shown(
    sql_source: SqlBusinessData,
) -> None:
    source = HalfDown(sql_source._sessions)
    found = await profile(source, customer_id="C10004", now=NOW)
    assert found.unavailable == ["bills", "orders"]
    assert found.membership is not None and found.membership.tier.value == "silver"
