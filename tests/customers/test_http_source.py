"""The HTTP business-data backend against a real local server that checks what kefu sent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from app.core.config import BusinessDataSettings
from app.customers.http import HttpBusinessData
from app.customers.models import TicketCategory, Tier
from app.customers.schemas import NewTicket
from app.customers.source import NotAllowed, Unavailable, Unsupported
from tests.customers.company_api import API_KEY, CompanyApi, serve_company_api


@pytest.fixture(scope="module")
def running_api() -> Iterator[CompanyApi]:
    with serve_company_api() as api:
        yield api


@pytest.fixture
def company_api(running_api: CompanyApi) -> CompanyApi:
    running_api.requests.clear()
    return running_api


def _settings(base_url: str, **overrides: object) -> BusinessDataSettings:
    values: dict[str, object] = {
        "backend": "http",
        "base_url": base_url,
        "api_key": SecretStr(API_KEY),
        "timeout": 0.5,
        **overrides,
    }
    return BusinessDataSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def http_source(company_api: CompanyApi) -> AsyncIterator[HttpBusinessData]:
    source = HttpBusinessData(_settings(company_api.base_url))
    yield source
    await source.aclose()


async def test_bill_request_and_parsing(
    company_api: CompanyApi, http_source: HttpBusinessData
) -> None:
    bill = await http_source.get_bill(customer_id="C10001", month="2026-10")
    assert bill is not None
    assert bill.total == Decimal("119.40") and bill.overage_total == Decimal("60.00")
    assert bill.model_dump(mode="json")["items"][2]["amount"] == "0.40"
    (sent,) = company_api.requests
    assert sent["method"] == "GET"
    assert sent["raw_path"] == "/api/customers/C10001/bills/2026-10"
    assert sent["authorization"] == f"Bearer {API_KEY}"


async def test_values_are_percent_encoded(
    company_api: CompanyApi, http_source: HttpBusinessData
) -> None:
    assert await http_source.get_order(customer_id="C1 0/../x", order_id="A/B?c=d") is None
    assert (
        company_api.requests[0]["raw_path"] == "/api/customers/C1%200%2F..%2Fx/orders/A%2FB%3Fc%3Dd"
    )
    assert company_api.requests[0]["query"] == ""


async def test_order_and_recent_orders(
    company_api: CompanyApi, http_source: HttpBusinessData
) -> None:
    order = await http_source.get_order(customer_id="C10001", order_id="YF202611200137")
    assert order is not None and order.customer_id == "C10001"
    assert order.shipment is not None and order.shipment.shipped_at is not None
    assert order.shipment.shipped_at.isoformat() == "2026-11-20T15:40:00+08:00"
    orders = await http_source.recent_orders(customer_id="C10001", limit=3)
    assert [o.id for o in orders] == ["YF202611200137"]
    assert company_api.requests[-1]["raw_path"] == "/api/customers/C10001/orders"
    assert company_api.requests[-1]["query"] == "limit=3"


async def test_no_order_list_endpoint_is_unsupported(company_api: CompanyApi) -> None:
    settings = _settings(company_api.base_url, order_path="/orders/{order_id}?owner={customer_id}")
    source = HttpBusinessData(settings)
    try:
        with pytest.raises(Unsupported):
            await source.recent_orders(customer_id="C10001", limit=3)
    finally:
        await source.aclose()


async def test_membership(http_source: HttpBusinessData) -> None:
    membership = await http_source.get_membership(customer_id="C10001")
    assert membership is not None and membership.tier is Tier.GOLD
    assert membership.customer_id == "C10001" and membership.history[0].reason


async def test_ticket_is_posted(company_api: CompanyApi, http_source: HttpBusinessData) -> None:
    new = NewTicket(
        conversation_id="conv-9",
        category=TicketCategory.BILLING,
        summary="10月账单异议",
        reference="2026-10",
    )
    ticket = await http_source.create_ticket(customer_id="C10001", ticket=new)
    assert ticket.id == "EXT-42" and ticket.summary == "10月账单异议"
    sent = company_api.requests[0]
    assert sent["method"] == "POST" and sent["raw_path"] == "/api/customers/C10001/tickets"
    assert sent["json"] == {
        "conversation_id": "conv-9",
        "category": "billing",
        "summary": "10月账单异议",
        "reference": "2026-10",
    }


async def test_not_found_is_none(http_source: HttpBusinessData) -> None:
    assert await http_source.get_bill(customer_id="C10001", month="2026-01") is None
    assert await http_source.get_membership(customer_id="C20000") is None


@pytest.mark.parametrize("customer_id", ["CBOOM", "CSLOW", "CJUNK"])
async def test_failures_are_unavailable(http_source: HttpBusinessData, customer_id: str) -> None:
    with pytest.raises(Unavailable):
        await http_source.get_membership(customer_id=customer_id)


async def test_connection_refused_is_unavailable() -> None:
    source = HttpBusinessData(_settings("http://127.0.0.1:9"))
    try:
        with pytest.raises(Unavailable):
            await source.get_bill(customer_id="C10001", month="2026-10")
    finally:
        await source.aclose()


@pytest.mark.parametrize("customer_id", ["CFORBID", "CWRONG"])
async def test_someone_elses_record_is_not_allowed(
    http_source: HttpBusinessData, customer_id: str
) -> None:
    with pytest.raises(NotAllowed):
        await http_source.get_membership(customer_id=customer_id)


def test_templates_are_checked_up_front() -> None:
    with pytest.raises(ValueError, match="BASE_URL"):
        HttpBusinessData(BusinessDataSettings(backend="http", base_url=None))
    with pytest.raises(ValueError, match="bill_path"):
        HttpBusinessData(_settings("http://127.0.0.1:9", bill_path="/bills/{customer_id}"))
    with pytest.raises(ValueError, match="order_path"):
        HttpBusinessData(_settings("http://127.0.0.1:9", order_path="/o/{order_id}/{secret}"))
