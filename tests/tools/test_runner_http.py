"""The tool runner over the HTTP backend: a company API's failures read as results."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr

from app.core.config import BusinessDataSettings
from app.customers.http import HttpBusinessData
from app.tools.service import ToolContext, ToolRunner
from tests.customers.company_api import API_KEY, CompanyApi, serve_company_api


@pytest.fixture(scope="module")
def company_api() -> Iterator[CompanyApi]:
    with serve_company_api() as api:
        yield api


@pytest.fixture
async def runner(company_api: CompanyApi) -> AsyncIterator[ToolRunner]:
    settings = BusinessDataSettings(
        backend="http", base_url=company_api.base_url, api_key=SecretStr(API_KEY), timeout=0.5
    )
    source = HttpBusinessData(settings)
    yield ToolRunner(source)
    await source.aclose()


def _ctx(customer_id: str) -> ToolContext:
    return ToolContext(customer_id=customer_id, conversation_id="conv-http")


async def test_happy_path(runner: ToolRunner) -> None:
    bill = await runner.run("get_bill", {"month": "2026-10"}, _ctx("C10001"))
    assert bill["total"] == "119.40" and bill["overage_total"] == "60.00"
    ticket = await runner.run(
        "create_ticket",
        {"category": "billing", "summary": "十月账单异议", "reference": "2026-10"},
        _ctx("C10001"),
    )
    assert ticket["ticket_id"] == "EXT-42"


async def test_not_found(runner: ToolRunner) -> None:
    result = await runner.run("get_order", {"order_id": "YF209901010000"}, _ctx("C10001"))
    assert result["error"] == "not_found"


@pytest.mark.parametrize("customer_id", ["CBOOM", "CSLOW", "CJUNK"])
async def test_outages_are_unavailable(runner: ToolRunner, customer_id: str) -> None:
    result = await runner.run("get_membership", {}, _ctx(customer_id))
    assert result == {"error": "unavailable", "message": result["message"]}


async def test_api_refusal_is_not_allowed(runner: ToolRunner) -> None:
    result = await runner.run("get_membership", {}, _ctx("CWRONG"))
    assert result["error"] == "not_allowed" and "tier" not in result
