"""A stand-in for a company's REST API: a real server on 127.0.0.1 that records each request.

Its behaviour depends on the customer id in the URL: ``C10001`` has data, ``CBOOM`` answers
503, ``CSLOW`` answers after a second, ``CFORBID`` 403, ``CWRONG`` another customer's record,
``CJUNK`` plain text; anyone else gets 404.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

API_KEY = "company-api-key-0123"

BILL = {
    "customer_id": "C10001",
    "month": "2026-10",
    "plan": "畅享套餐",
    "total": 119.4,  # a number here, strings below: both are accepted
    "status": "paid",
    "issued_on": "2026-11-03",
    "items": [
        {"category": "plan_fee", "description": "畅享套餐 月租", "amount": "59.00"},
        {
            "category": "data_overage",
            "description": "国内流量超出 12GB × 5元/GB",
            "amount": "60",
            "quantity": 12,
            "unit": "GB",
            "unit_price": 5,
        },
        {"category": "sms", "description": "国内短信 4条", "amount": 0.4},
    ],
    "internal_ledger_code": "ignored",
}
ORDER = {
    "id": "YF202611200137",
    "placed_at": "2026-11-20T10:12:00+08:00",
    "status": "shipped",
    "amount": "2538.00",
    "payment_method": "credit_card",
    "items": [{"name": "云帆 Nova 12 手机", "quantity": 1, "unit_price": "2499.00"}],
    "shipment": {
        "carrier": "顺丰速运",
        "tracking_no": "SF1408822736451",
        "shipped_at": "2026-11-20T07:40:00Z",
    },
}
MEMBERSHIP = {
    "tier": "gold",
    "qualifying_spend": "3120.00",
    "points": 4200,
    "points_expiring": 300,
    "points_expire_on": "2026-12-31",
    "history": [
        {
            "changed_on": "2026-03-01",
            "from_tier": "silver",
            "to_tier": "gold",
            "reason": "近12个月消费满3,000元",
        }
    ],
}


@dataclass
class CompanyApi:
    base_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        raw = request.scope["raw_path"].decode()
        body = await request.json() if request.method == "POST" else None
        self.requests.append(
            {
                "method": request.method,
                "raw_path": raw,
                "query": request.url.query,
                "authorization": request.headers.get("authorization"),
                "traceparent": request.headers.get("traceparent"),
                "json": body,
            }
        )
        # /api/customers/{customer_id}/{kind}[/{key}]
        parts = [unquote(p) for p in raw.split("/")[3:]]
        customer_id, kind, key = parts[0], parts[1], (parts[2] if len(parts) > 2 else None)
        if customer_id == "CBOOM":
            return PlainTextResponse("upstream down", status_code=503)
        if customer_id == "CFORBID":
            return JSONResponse({"detail": "forbidden"}, status_code=403)
        if customer_id == "CJUNK":
            return PlainTextResponse("oops")
        if customer_id == "CSLOW":
            await asyncio.sleep(1.0)
            return JSONResponse(MEMBERSHIP)
        if customer_id == "CWRONG":
            return JSONResponse({**MEMBERSHIP, "customer_id": "C99999"})
        if customer_id != "C10001":
            return JSONResponse({"detail": "no such customer"}, status_code=404)
        if kind == "bills" and key == "2026-10":
            return JSONResponse(BILL)
        if kind == "orders" and key == ORDER["id"]:
            return JSONResponse(ORDER)
        if kind == "orders" and key is None:
            return JSONResponse({"orders": [ORDER]})
        if kind == "membership":
            return JSONResponse(MEMBERSHIP)
        if kind == "tickets" and request.method == "POST":
            return JSONResponse({"id": "EXT-42", "status": "open"}, status_code=201)
        return JSONResponse({"detail": "not found"}, status_code=404)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_company_api() -> Iterator[CompanyApi]:
    api = CompanyApi()
    app = Starlette(routes=[Route("/{rest:path}", api.handle, methods=["GET", "POST"])])
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test API server did not start")
        time.sleep(0.02)
    api.base_url = f"http://127.0.0.1:{port}/api"
    try:
        yield api
    finally:
        server.should_exit = True
        thread.join(10)
