"""Business data from a company's own REST API, at URLs built from configured templates.

The templates (``KEFU_BUSINESS_*_PATH``) are joined to ``KEFU_BUSINESS_BASE_URL`` and may use
``{customer_id}``, ``{month}`` and ``{order_id}``; values are percent-encoded, so an id can
never add a path segment or a query. Requests carry ``Authorization: Bearer <api_key>``.

The API answers with the JSON of the records in ``app.customers.schemas``: money as a string
or a number, timestamps ISO 8601 with an offset (read as UTC without one), extra fields
ignored.

- ``GET bill_path`` → ``BillRecord``; ``GET order_path`` → ``OrderRecord``;
  ``GET membership_path`` → ``MembershipRecord``;
- ``GET orders_path?limit=N`` → a list of ``OrderRecord`` (or ``{"orders": [...]}``);
  by default ``order_path`` without its trailing ``/{order_id}``;
- ``POST ticket_path`` with ``{"conversation_id", "category", "summary", "reference"}`` →
  at least ``{"id": ...}``, status 200 or 201.

404 means no such record; 403, or a record naming another customer, means not this
customer's; anything else that is not a success (5xx, timeouts, refused connections, bad
JSON) is ``Unavailable``.
"""

from __future__ import annotations

import logging
import string
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from app.core.config import BusinessDataSettings
from app.customers.schemas import (
    BillRecord,
    MembershipRecord,
    NewTicket,
    OrderRecord,
    TicketRecord,
)
from app.customers.source import BusinessData, NotAllowed, Unavailable, Unsupported
from app.observability import tracing

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
_FIELDS = {"customer_id", "month", "order_id"}


def _check_template(name: str, template: str, needs: set[str]) -> None:
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    if not fields <= _FIELDS or not needs <= fields:
        raise ValueError(f"{name} {template!r} must use {sorted(needs)} and only {sorted(_FIELDS)}")


def _orders_path(order_path: str) -> str | None:
    suffix = "/{order_id}"
    return order_path[: -len(suffix)] if order_path.endswith(suffix) else None


class HttpBusinessData(BusinessData):
    def __init__(
        self,
        settings: BusinessDataSettings,
        *,
        orders_path: str | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not settings.base_url:
            raise ValueError("KEFU_BUSINESS_BASE_URL is required for the http backend")
        self._base = settings.base_url.rstrip("/")
        self._paths = {
            "bill": settings.bill_path,
            "order": settings.order_path,
            "membership": settings.membership_path,
            "ticket": settings.ticket_path,
        }
        orders = orders_path or _orders_path(settings.order_path)
        if orders:
            self._paths["orders"] = orders
        needs = {"bill": {"month"}, "order": {"order_id"}}
        for name, template in self._paths.items():
            _check_template(f"{name}_path", template, {"customer_id", *needs.get(name, set())})
        self._timeout = settings.timeout
        headers = {"Accept": "application/json", "User-Agent": "kefu"}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=settings.timeout, headers=headers, follow_redirects=False
        )

    def _url(self, name: str, **values: str) -> str:
        quoted = {k: quote(v, safe="") for k, v in values.items()}
        return self._base + self._paths[name].format(**quoted)

    async def _call(
        self, method: str, url: str, *, json: dict[str, Any] | None = None, **params: Any
    ) -> Any:
        """The decoded JSON body, or None on 404."""
        try:
            resp = await self._client.request(
                method, url, json=json, params=params or None, headers=tracing.outgoing_headers()
            )
        except httpx.TimeoutException as exc:
            log.warning(
                "business API timed out", extra={"method": method, "timeout": self._timeout}
            )
            raise Unavailable(f"no answer within {self._timeout:g}s") from exc
        except httpx.HTTPError as exc:
            log.warning("business API unreachable", extra={"error": type(exc).__name__})
            raise Unavailable(f"unreachable: {type(exc).__name__}") from exc
        if resp.status_code == 404:
            return None
        if resp.status_code == 403:
            raise NotAllowed("the business API refused access to this record")
        if not resp.is_success:
            log.warning("business API failed", extra={"status": resp.status_code})
            raise Unavailable(f"HTTP {resp.status_code}")
        try:
            return resp.json()
        except ValueError as exc:
            raise Unavailable("the business API did not answer with JSON") from exc

    @staticmethod
    def _record(model: type[M], data: Any, customer_id: str, **defaults: str) -> M:
        if not isinstance(data, dict):
            raise Unavailable(f"the business API answered a {type(data).__name__}, not a record")
        owner = data.get("customer_id")
        if owner is not None and str(owner) != customer_id:
            # The API ignored the id in the URL: refuse rather than show someone else's record.
            raise NotAllowed("the business API returned another customer's record")
        try:
            return model.model_validate({**defaults, **data, "customer_id": customer_id})
        except ValidationError as exc:
            log.warning(
                "business API answered an unexpected shape",
                extra={"record": model.__name__, "errors": exc.error_count()},
            )
            raise Unavailable(f"unexpected {model.__name__} from the business API") from exc

    async def get_bill(self, *, customer_id: str, month: str) -> BillRecord | None:
        data = await self._call("GET", self._url("bill", customer_id=customer_id, month=month))
        return None if data is None else self._record(BillRecord, data, customer_id, month=month)

    async def get_order(self, *, customer_id: str, order_id: str) -> OrderRecord | None:
        url = self._url("order", customer_id=customer_id, order_id=order_id)
        data = await self._call("GET", url)
        return None if data is None else self._record(OrderRecord, data, customer_id, id=order_id)

    async def recent_orders(self, *, customer_id: str, limit: int) -> list[OrderRecord]:
        if "orders" not in self._paths:
            raise Unsupported("no order-list endpoint configured")
        data = await self._call("GET", self._url("orders", customer_id=customer_id), limit=limit)
        if isinstance(data, dict):
            data = data.get("orders")
        if data is None:
            return []
        if not isinstance(data, list):
            raise Unavailable("the business API answered an order list that is not a list")
        return [self._record(OrderRecord, o, customer_id) for o in data[:limit]]

    async def get_membership(self, *, customer_id: str) -> MembershipRecord | None:
        data = await self._call("GET", self._url("membership", customer_id=customer_id))
        return None if data is None else self._record(MembershipRecord, data, customer_id)

    async def create_ticket(self, *, customer_id: str, ticket: NewTicket) -> TicketRecord:
        sent = ticket.model_dump(mode="json")
        data = await self._call("POST", self._url("ticket", customer_id=customer_id), json=sent)
        if data is None:
            raise Unavailable("the ticket endpoint was not found (404)")
        return self._record(TicketRecord, {**sent, **data}, customer_id)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
