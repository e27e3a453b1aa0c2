"""The customer beside a handed-off conversation, from the business-data source."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool

from app.core.errors import NotFound
from app.customers import profile
from app.customers.schemas import CustomerProfile
from app.handoff import service
from app.runtime import Runtime


def _customer_id(runtime: Runtime, conversation_id: str) -> str | None:
    with runtime.session_factory() as db_session:
        conv, _, _ = service.detail(db_session=db_session, conversation_id=conversation_id)
        return conv.customer_id


async def customer_profile(runtime: Runtime, conversation_id: str) -> CustomerProfile:
    customer_id = await run_in_threadpool(_customer_id, runtime, conversation_id)
    if customer_id is None:
        raise NotFound(
            "this conversation's customer is not known (an anonymous visitor)",
            code="customer_unknown",
        )
    return await profile.profile(
        runtime.tools.source, customer_id=customer_id, now=datetime.now(UTC)
    )
