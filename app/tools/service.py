"""Run one tool call from the model and hand back a JSON-serialisable result.

Whatever happens, the result is a dict the model can read and act on: a record, or
``{"error": code, "message": ...}`` with codes ``unknown_tool``, ``invalid_arguments``,
``login_required``, ``not_allowed``, ``not_found``, ``order_id_required`` and
``unavailable``. Nothing raises to the caller, so a tool failure never reaches the customer
as a crash.

Identity: the customer is ``ToolContext.customer_id``, set by the channel that
authenticated them. The tools take no customer parameter; an argument naming another
customer (a ``customer_id``, ``phone``, ``account``, ...) or a record of another customer
is refused as ``not_allowed`` and logged at WARNING with the requested value masked.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.core.logging import mask_pii
from app.customers.models import TicketCategory
from app.customers.schemas import NewTicket
from app.customers.source import (
    BusinessData,
    BusinessDataError,
    NotAllowed,
    Unavailable,
    Unsupported,
)
from app.tools import arguments as args_check
from app.tools.schemas import ACCOUNT_TOOLS, TOOL_NAMES, parameters, tool_definitions

log = logging.getLogger(__name__)

Result = dict[str, Any]

# Argument names a model might use to point a tool at someone: none is a tool parameter.
IDENTITY_KEYS = frozenset(
    {
        "customer_id", "customer", "customer_no", "user_id", "user", "uid", "account",
        "account_id", "account_no", "member_id", "phone", "phone_number", "mobile", "msisdn",
        "tel",
    }
)  # fmt: skip
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class ToolContext:
    """Who is asking, as the conversation knows it (never as the model says)."""

    customer_id: str | None
    conversation_id: str
    # The customer's own number, which a model may repeat as an argument; when None, the
    # runner asks the business data for it (only if an argument needs it).
    customer_phone: str | None = None


def error(code: str, message: str, **extra: Any) -> Result:
    return {"error": code, "message": message, **extra}


def _mask(value: str) -> str:
    masked = mask_pii(value)[:40]
    if masked != value or len(value) <= 4:
        return masked
    return f"{value[:2]}***{value[-2:]}"


def _digits(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


def _is_own(value: str, ctx: ToolContext) -> bool:
    if ctx.customer_id is not None and value.strip().lower() == ctx.customer_id.lower():
        return True
    own_phone = _digits(ctx.customer_phone or "")
    return bool(own_phone) and _digits(value) == own_phone


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


class ToolRunner:
    def __init__(
        self,
        source: BusinessData,
        *,
        service_hours: str = "8:00–22:00",
        account_app: str = "the company's app",
        recent_orders: int = 3,
    ) -> None:
        self._source = source
        self._service_hours = service_hours
        self._app = account_app
        self._recent_orders = recent_orders
        self._handlers: dict[str, Callable[[dict[str, Any], ToolContext], Awaitable[Result]]] = {
            "get_bill": self._get_bill,
            "get_order": self._get_order,
            "get_membership": self._get_membership,
            "create_ticket": self._create_ticket,
            "request_human": self._request_human,
        }

    @property
    def source(self) -> BusinessData:
        return self._source

    @property
    def definitions(self) -> list[dict[str, Any]]:
        """The ``tools`` list for the chat-completions request."""
        return tool_definitions()

    async def run(
        self, name: str, arguments: Mapping[str, Any] | str | None, ctx: ToolContext
    ) -> Result:
        if name not in self._handlers:
            return error("unknown_tool", f"no tool named {name!r}; tools: {', '.join(TOOL_NAMES)}")
        try:
            args = args_check.decode(arguments)
        except args_check.ArgumentError as exc:
            return error("invalid_arguments", exc.message)
        ctx = await self._with_phone(args, ctx)
        refused = self._foreign_identity(name, args, ctx)
        if refused is not None:
            return refused
        args = {k: v for k, v in args.items() if k.lower() not in IDENTITY_KEYS}
        if name in ACCOUNT_TOOLS and ctx.customer_id is None:
            return error(
                "login_required",
                "The customer is not logged in, so their records cannot be looked up. Ask them "
                f"to log in to {self._app}, then ask again.",
            )
        try:
            args_check.check(args, parameters(name))
        except args_check.ArgumentError as exc:
            return error("invalid_arguments", exc.message, field=exc.field)
        try:
            return await self._handlers[name](args, ctx)
        except NotAllowed as exc:
            self._warn_refused(name, ctx, argument="record", requested=str(exc))
            order_id = args.get("order_id")
            return self._not_allowed(ctx, record=f"Order {order_id}" if order_id else "It")
        except Unavailable as exc:
            log.warning(
                "business data unavailable",
                extra={"tool": name, "conversation_id": ctx.conversation_id, "reason": str(exc)},
            )
            return self._unavailable()
        except Exception:  # a bug must not end the customer's turn; the trace keeps it
            log.exception(
                "tool failed", extra={"tool": name, "conversation_id": ctx.conversation_id}
            )
            return self._unavailable()

    async def _with_phone(self, args: dict[str, Any], ctx: ToolContext) -> ToolContext:
        """The context with the customer's phone from the records, looked up only when an
        identity argument is not the customer id (conversations know the id, not the phone)."""
        if ctx.customer_id is None or ctx.customer_phone is not None:
            return ctx
        if all(
            k.lower() not in IDENTITY_KEYS or v in (None, "") or _is_own(str(v), ctx)
            for k, v in args.items()
        ):
            return ctx
        try:
            phone = await self._source.customer_phone(customer_id=ctx.customer_id)
        except BusinessDataError:
            return ctx  # unknown: the identity check refuses, which is the safe side
        return replace(ctx, customer_phone=phone)

    def _foreign_identity(self, name: str, args: dict[str, Any], ctx: ToolContext) -> Result | None:
        for key, value in args.items():
            if key.lower() not in IDENTITY_KEYS or value is None or value == "":
                continue
            if not _is_own(str(value), ctx):
                self._warn_refused(name, ctx, argument=key, requested=_mask(str(value)))
                return self._not_allowed(ctx)
        return None

    @staticmethod
    def _warn_refused(name: str, ctx: ToolContext, *, argument: str, requested: str) -> None:
        log.warning(
            "tool call for another customer's record refused",
            extra={
                "tool": name,
                "conversation_id": ctx.conversation_id,
                "customer_id": ctx.customer_id,
                "argument": argument,
                "requested": requested,
            },
        )

    def _not_allowed(self, ctx: ToolContext, *, record: str | None = None) -> Result:
        if record is not None:
            message = (
                f"{record} is not on the account of the customer in this conversation, so it "
                "cannot be shown. Ask the customer to check the number."
            )
        else:
            message = (
                "The tools always use the account of the customer in this conversation and "
                "take no customer id, phone number or account: call again without it. Tell the "
                "customer you can only help with the account they are logged in with."
            )
        if ctx.customer_id is None:
            message += f" This customer is not logged in: ask them to log in to {self._app}."
        return error("not_allowed", message)

    @staticmethod
    def _who(ctx: ToolContext) -> str:
        if ctx.customer_id is None:  # run() answers login_required before any account tool
            raise RuntimeError("an account tool ran without a customer")
        return ctx.customer_id

    @staticmethod
    def _unavailable() -> Result:
        return error(
            "unavailable",
            "The account system did not answer. Apologise, do not guess any figures, and offer "
            "to try again in a moment or to hand over to a human agent (request_human).",
        )

    async def _get_bill(self, args: dict[str, Any], ctx: ToolContext) -> Result:
        month: str = args["month"]
        problem = _month_problem(month)
        if problem is not None:
            return error("invalid_arguments", problem, field="month")
        customer_id = self._who(ctx)
        bill = await self._source.get_bill(customer_id=customer_id, month=month)
        if bill is None:
            return error(
                "not_found",
                f"No bill for {month} on this account. A month's bill is issued on the 3rd of "
                "the next month; check the month with the customer.",
            )
        return bill.model_dump(mode="json")

    async def _get_order(self, args: dict[str, Any], ctx: ToolContext) -> Result:
        customer_id = self._who(ctx)
        order_id: str | None = args.get("order_id")
        if order_id is None:
            try:
                orders = await self._source.recent_orders(
                    customer_id=customer_id, limit=self._recent_orders
                )
            except Unsupported:
                return error(
                    "order_id_required",
                    f"Ask the customer for the order number (shown in {self._app}, under "
                    "their orders).",
                )
            return {"orders": [o.model_dump(mode="json") for o in orders], "count": len(orders)}
        order = await self._source.get_order(customer_id=customer_id, order_id=order_id)
        if order is None:
            return error(
                "not_found",
                f"No order {order_id} on this account. Check the number with the customer "
                f"(shown in {self._app}), or call get_order with order_id null to list recent "
                "orders.",
            )
        return order.model_dump(mode="json")

    async def _get_membership(self, args: dict[str, Any], ctx: ToolContext) -> Result:
        customer_id = self._who(ctx)
        membership = await self._source.get_membership(customer_id=customer_id)
        if membership is None:
            return error("not_found", "No membership record for this account.")
        return membership.model_dump(mode="json")

    async def _create_ticket(self, args: dict[str, Any], ctx: ToolContext) -> Result:
        customer_id = self._who(ctx)
        ticket = NewTicket(
            conversation_id=ctx.conversation_id,
            category=TicketCategory(args["category"]),
            summary=args["summary"].strip(),
            reference=args.get("reference"),
        )
        created = await self._source.create_ticket(customer_id=customer_id, ticket=ticket)
        return {
            "ticket_id": created.id,
            "status": created.status.value,
            "status_label": created.status_label,
            "category": created.category.value,
            "message": f"Ticket {created.id} is open. Give the customer this ticket number.",
        }

    async def _request_human(self, args: dict[str, Any], ctx: ToolContext) -> Result:
        return {
            "handoff": True,
            "reason": args["reason"],
            "summary": args["summary"],
            "message": "The conversation will be handed to a human agent. Tell the customer; "
            f"human agents answer {self._service_hours} daily, outside those hours they can "
            "leave a message and will get a reply the next day.",
        }
