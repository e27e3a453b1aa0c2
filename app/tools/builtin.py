"""kefu's own tools as LangChain tools over the business-data interface.

Whose records a tool reads is an ``InjectedToolArg`` (``customer_id``, with the
``conversation_id`` a ticket is filed under): LangChain leaves injected arguments out of the
schema the model sees, and ``app.tools.service.ToolRunner`` fills them from the conversation.
A tool returns a JSON-serialisable dict: the record, or ``{"error", "message"}`` for an
outcome the model should act on (``not_found``, ``invalid_arguments``,
``order_id_required``); outages and refusals raise the business-data errors, which the runner
words for the model.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

from langchain_core.tools import BaseTool, InjectedToolArg
from pydantic import BaseModel

from app.customers.models import TicketCategory
from app.customers.schemas import NewTicket
from app.customers.source import BusinessData, Unsupported
from app.tools.schemas import (
    DESCRIPTIONS,
    BillArguments,
    HandoffArguments,
    MembershipArguments,
    OrderArguments,
    TicketArguments,
)

Result = dict[str, Any]
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Desk:
    """What the tools answer from, and the words they give the model."""

    source: BusinessData
    service_hours: str = "8:00–22:00"
    account_app: str = "the company's app"
    recent_orders: int = 3


class Identity(BaseModel):
    """The arguments kefu injects; never in the model-visible schema."""

    customer_id: Annotated[str | None, InjectedToolArg] = None
    conversation_id: Annotated[str, InjectedToolArg] = ""


class _BillInput(BillArguments, Identity):
    pass


class _OrderInput(OrderArguments, Identity):
    pass


class _MembershipInput(MembershipArguments, Identity):
    pass


class _TicketInput(TicketArguments, Identity):
    pass


class _HandoffInput(HandoffArguments, Identity):
    pass


def error(code: str, message: str, **extra: Any) -> Result:
    return {"error": code, "message": message, **extra}


def _month_problem(month: str) -> str | None:
    match = _MONTH.match(month)
    if match is None:
        return None  # the pattern check reports it
    year, mon = int(match[1]), int(match[2])
    if not 1 <= mon <= 12:
        return f"month {month!r} does not exist: the month part must be 01 to 12"
    if not 2000 <= year <= 2099:
        return f"month {month!r} is out of range: use a recent month, e.g. 2026-10"
    return None


@dataclass(frozen=True)
class Caller:
    """Who the tool runs for, as injected."""

    customer_id: str | None
    conversation_id: str

    @property
    def customer(self) -> str:
        if self.customer_id is None:  # the runner answers login_required before this
            raise RuntimeError("an account tool ran without a customer")
        return self.customer_id


class KefuTool(BaseTool):
    """A built-in tool: async only, over ``desk``."""

    desk: Desk
    # Reads or writes the customer's records, so the runner asks for a login first.
    needs_customer: bool = True

    def _run(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError(f"{self.name} runs asynchronously: use ainvoke")

    async def _arun(
        self,
        customer_id: Annotated[str | None, InjectedToolArg] = None,
        conversation_id: Annotated[str, InjectedToolArg] = "",
        **args: Any,
    ) -> Result:
        return await self.answer(args, Caller(customer_id, conversation_id))

    @abstractmethod
    async def answer(self, args: dict[str, Any], caller: Caller) -> Result:
        """The result for the model's (validated) ``args``."""


class GetBill(KefuTool):
    name: str = "get_bill"
    description: str = DESCRIPTIONS["get_bill"]
    args_schema: type[BaseModel] = _BillInput

    async def answer(self, args: dict[str, Any], caller: Caller) -> Result:
        month: str = args["month"]
        problem = _month_problem(month)
        if problem is not None:
            return error("invalid_arguments", problem, field="month")
        bill = await self.desk.source.get_bill(customer_id=caller.customer, month=month)
        if bill is None:
            return error(
                "not_found",
                f"No bill for {month} on this account. A month's bill is issued on the 3rd of "
                "the next month; check the month with the customer.",
            )
        return bill.model_dump(mode="json")


class GetOrder(KefuTool):
    name: str = "get_order"
    description: str = DESCRIPTIONS["get_order"]
    args_schema: type[BaseModel] = _OrderInput

    async def answer(self, args: dict[str, Any], caller: Caller) -> Result:
        who, app = caller.customer, self.desk.account_app
        order_id: str | None = args.get("order_id")
        if order_id is None:
            try:
                orders = await self.desk.source.recent_orders(
                    customer_id=who, limit=self.desk.recent_orders
                )
            except Unsupported:
                return error(
                    "order_id_required",
                    f"Ask the customer for the order number (shown in {app}, under their orders).",
                )
            return {"orders": [o.model_dump(mode="json") for o in orders], "count": len(orders)}
        order = await self.desk.source.get_order(customer_id=who, order_id=order_id)
        if order is None:
            return error(
                "not_found",
                f"No order {order_id} on this account. Check the number with the customer "
                f"(shown in {app}), or call get_order with order_id null to list recent "
                "orders.",
            )
        return order.model_dump(mode="json")


class GetMembership(KefuTool):
    name: str = "get_membership"
    description: str = DESCRIPTIONS["get_membership"]
    args_schema: type[BaseModel] = _MembershipInput

    async def answer(self, args: dict[str, Any], caller: Caller) -> Result:
        membership = await self.desk.source.get_membership(customer_id=caller.customer)
        if membership is None:
            return error("not_found", "No membership record for this account.")
        return membership.model_dump(mode="json")


class CreateTicket(KefuTool):
    name: str = "create_ticket"
    description: str = DESCRIPTIONS["create_ticket"]
    args_schema: type[BaseModel] = _TicketInput

    async def answer(self, args: dict[str, Any], caller: Caller) -> Result:
        ticket = NewTicket(
            conversation_id=caller.conversation_id,
            category=TicketCategory(args["category"]),
            summary=args["summary"].strip(),
            reference=args.get("reference"),
        )
        created = await self.desk.source.create_ticket(customer_id=caller.customer, ticket=ticket)
        return {
            "ticket_id": created.id,
            "status": created.status.value,
            "status_label": created.status_label,
            "category": created.category.value,
            "message": f"Ticket {created.id} is open. Give the customer this ticket number.",
        }


class RequestHuman(KefuTool):
    name: str = "request_human"
    description: str = DESCRIPTIONS["request_human"]
    args_schema: type[BaseModel] = _HandoffInput
    needs_customer: bool = False

    async def answer(self, args: dict[str, Any], caller: Caller) -> Result:
        return {
            "handoff": True,
            "reason": args["reason"],
            "summary": args["summary"],
            "message": "The conversation will be handed to a human agent. Tell the customer; "
            f"human agents answer {self.desk.service_hours} daily, outside those hours they "
            "can leave a message and will get a reply the next day.",
        }


def builtin_tools(desk: Desk) -> list[KefuTool]:
    """The five tools, in the order the model is given them."""
    return [
        GetBill(desk=desk),
        GetOrder(desk=desk),
        GetMembership(desk=desk),
        CreateTicket(desk=desk),
        RequestHuman(desk=desk),
    ]
