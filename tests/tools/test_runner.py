"""The tool runner on the SQL backend with the demo data (PostgreSQL and SQLite)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.core.logging import JsonFormatter
from app.customers import service as customer_service
from app.customers.source import BusinessData, Unavailable
from app.customers.sql import SqlBusinessData
from app.tools.service import ToolContext, ToolRunner
from tests.tools.conftest import capture_logs

C1 = ToolContext(customer_id="C10001", conversation_id="conv-1", customer_phone="13800010001")
ANON = ToolContext(customer_id=None, conversation_id="conv-anon")


@pytest.fixture
def runner(sql_source: SqlBusinessData) -> ToolRunner:
    return ToolRunner(sql_source, service_hours="8:00–22:00")


def _as(customer_id: str) -> ToolContext:
    return ToolContext(customer_id=customer_id, conversation_id=f"conv-{customer_id}")


async def test_get_bill_explains_the_jump(runner: ToolRunner) -> None:
    october = await runner.run("get_bill", {"month": "2026-10"}, C1)
    september = await runner.run("get_bill", '{"month": "2026-09"}', C1)  # JSON string, as sent
    assert october["total"] == "119.40" and september["total"] == "59.50"
    assert october["overage_total"] == "60.00" and september["overage_total"] == "0.00"
    overage = [i for i in october["items"] if i["category"] == "data_overage"]
    assert overage[0]["description"] == "国内流量超出 12GB × 5元/GB"
    assert overage[0]["category_label"] == "套餐外流量费"
    json.dumps(october, ensure_ascii=False)  # JSON-serialisable as it is


async def test_get_order_in_transit_and_refund(runner: ToolRunner) -> None:
    shipped = await runner.run("get_order", {"order_id": "YF202611200137"}, _as("C10002"))
    assert shipped["status_label"] == "已发货"
    assert shipped["shipment"]["tracking_no"] == "SF1408822736451"
    refund = await runner.run("get_order", {"order_id": "YF202611100285"}, _as("C10003"))
    assert refund["refund"]["status_label"] == "退款中"
    assert refund["refund"]["method_label"] == "第三方支付账户"
    assert refund["refund"]["expected_by"] == "2026-11-25"


async def test_get_order_without_a_number_lists_recent_orders(runner: ToolRunner) -> None:
    result = await runner.run("get_order", {"order_id": None}, _as("C10005"))
    assert result["count"] == 2
    assert [o["id"] for o in result["orders"]] == ["YF202611210056", "YF202603150088"]


async def test_get_membership_with_downgrade_reason(runner: ToolRunner) -> None:
    result = await runner.run("get_membership", {}, _as("C10004"))
    assert result["tier"] == "silver" and result["tier_label"] == "银卡"
    last = result["history"][-1]
    assert last["change"] == "金卡 → 银卡" and "年度复核" in last["reason"]
    assert result["points_multiplier"] == "1.2"


async def test_create_ticket_writes_one_row(runner: ToolRunner, db_session: Session) -> None:
    args = {"category": "billing", "summary": "客户对10月流量超出费有异议", "reference": "2026-10"}
    first = await runner.run("create_ticket", args, C1)
    assert first["ticket_id"].startswith("TK") and first["status"] == "open"
    assert first["ticket_id"] in first["message"]
    again = await runner.run("create_ticket", args, C1)
    assert again["ticket_id"] == first["ticket_id"]
    (row,) = customer_service.list_tickets(db_session=db_session, customer_id="C10001")
    assert (row.conversation_id, row.reference) == ("conv-1", "2026-10")


async def test_request_human_hands_off_even_anonymous(runner: ToolRunner) -> None:
    result = await runner.run("request_human", {"reason": "complaint", "summary": "要投诉"}, ANON)
    assert result["handoff"] is True and result["reason"] == "complaint"
    assert "8:00–22:00" in result["message"]


@pytest.mark.parametrize(
    ("name", "arguments", "field", "words"),
    [
        ("get_bill", {"month": "2026-13"}, "month", "01 to 12"),
        ("get_bill", {"month": "2026-00"}, "month", "01 to 12"),
        ("get_bill", {"month": "Oct 2026"}, "month", "YYYY-MM"),
        ("get_bill", {}, "month", "missing"),
        ("get_bill", {"month": "2026-10", "detail": True}, "detail", "unknown argument"),
        ("get_order", {"order_id": "YF 1; drop"}, "order_id", "expected form"),
        ("create_ticket", {"category": "refund", "summary": "问题描述很长"}, "category", "one of"),
        ("request_human", {"reason": "other", "summary": "x" * 301}, "summary", "too long"),
    ],
)
async def test_bad_arguments_read_clearly(
    runner: ToolRunner, name: str, arguments: dict[str, Any], field: str, words: str
) -> None:
    result = await runner.run(name, arguments, C1)
    assert result["error"] == "invalid_arguments"
    assert result["field"] == field and words in result["message"]


async def test_unknown_records_and_tools(runner: ToolRunner) -> None:
    missing = await runner.run("get_order", {"order_id": "YF209901010000"}, C1)
    assert missing["error"] == "not_found" and "YF209901010000" in missing["message"]
    no_bill = await runner.run("get_bill", {"month": "2025-01"}, C1)
    assert no_bill["error"] == "not_found" and "2025-01" in no_bill["message"]
    assert (await runner.run("get_balance", {}, C1))["error"] == "unknown_tool"
    assert (await runner.run("get_bill", "{not json", C1))["error"] == "invalid_arguments"
    assert (await runner.run("get_bill", "[1]", C1))["error"] == "invalid_arguments"


async def test_another_customer_by_argument_is_refused_and_logged(runner: ToolRunner) -> None:
    with capture_logs("app.tools.service") as records:
        result = await runner.run("get_bill", {"month": "2026-10", "phone": "13900001111"}, C1)
        other = await runner.run("get_membership", {"customer_id": "C10005"}, C1)
    assert result["error"] == "not_allowed" and other["error"] == "not_allowed"
    assert "total" not in result
    assert [r.levelname for r in records] == ["WARNING", "WARNING"]
    warning = records[0]
    assert warning.__dict__["requested"] == "139****1111"
    assert warning.__dict__["customer_id"] == "C10001" and warning.__dict__["tool"] == "get_bill"
    line = JsonFormatter().format(warning)
    assert "13900001111" not in line and "139****1111" in line


async def test_another_customers_order_is_refused_and_logged(runner: ToolRunner) -> None:
    with capture_logs("app.tools.service") as records:
        result = await runner.run("get_order", {"order_id": "YF202611200137"}, C1)
    assert result["error"] == "not_allowed" and "YF202611200137" in result["message"]
    assert "shipment" not in result
    assert records[0].levelno == logging.WARNING and records[0].__dict__["tool"] == "get_order"


async def test_own_identity_in_arguments_is_ignored(runner: ToolRunner) -> None:
    by_id = await runner.run("get_bill", {"month": "2026-10", "customer_id": "C10001"}, C1)
    by_phone = await runner.run("get_bill", {"month": "2026-10", "phone": "+86 138 0001 0001"}, C1)
    assert by_id["total"] == by_phone["total"] == "119.40"


async def test_own_phone_is_known_from_the_records_not_only_from_the_caller(
    runner: ToolRunner,
) -> None:
    """Conversations know the customer id, not the phone: the runner looks the phone up."""
    as_c1 = _as("C10001")
    assert as_c1.customer_phone is None
    own = await runner.run("get_bill", {"month": "2026-10", "phone": "+86 138 0001 0001"}, as_c1)
    assert own.get("total") == "119.40", own
    other = await runner.run("get_bill", {"month": "2026-10", "phone": "13800010002"}, as_c1)
    assert other["error"] == "not_allowed"


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("get_bill", {"month": "2026-10"}),
        ("get_order", {"order_id": "YF202611200137"}),
        ("get_membership", {}),
        ("create_ticket", {"category": "other", "summary": "需要人工回电", "reference": None}),
    ],
)
async def test_anonymous_must_log_in(
    runner: ToolRunner, name: str, arguments: dict[str, Any]
) -> None:
    result = await runner.run(name, arguments, ANON)
    assert result["error"] == "login_required" and "log in" in result["message"]


async def test_anonymous_naming_a_customer_is_refused(runner: ToolRunner) -> None:
    with capture_logs("app.tools.service") as records:
        result = await runner.run("get_bill", {"month": "2026-10", "phone": "13800010001"}, ANON)
    assert result["error"] == "not_allowed" and "not logged in" in result["message"]
    assert records and records[0].__dict__["requested"] == "138****0001"


class _Broken(BusinessData):
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def get_bill(self, **_: Any) -> Any:
        raise self.exc

    get_order = recent_orders = get_membership = create_ticket = get_bill


@pytest.mark.parametrize("exc", [Unavailable("db down"), RuntimeError("a bug")])
async def test_failures_become_an_unavailable_result(exc: Exception) -> None:
    runner = ToolRunner(_Broken(exc))
    with capture_logs("app.tools.service") as records:
        result = await runner.run("get_membership", {}, C1)
    assert result["error"] == "unavailable" and "request_human" in result["message"]
    assert records and records[0].levelno >= logging.WARNING
