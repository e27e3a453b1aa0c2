"""Run one tool call from the model and hand back a JSON-serialisable result.

The tools are LangChain tools: kefu's own (``app.tools.builtin``) and the operator's
(``KEFU_EXTRA_TOOLS``, ``app.tools.extra``). Whatever happens, the result is a dict the
model can read and act on: a record, or ``{"error": code, "message": ...}`` with codes
``unknown_tool``, ``invalid_arguments``, ``login_required``, ``not_allowed``, ``not_found``,
``order_id_required``, ``failed`` (a tool's own ``ToolException``) and ``unavailable``.
Nothing raises to the caller, so a tool failure never reaches the customer as a crash.

Identity: the customer is ``ToolContext.customer_id``, set by the channel that
authenticated them, and reaches a tool only as an injected argument. The model-visible
schemas take no customer parameter; an argument naming another customer (a
``customer_id``, ``phone``, ``account``, ...) or a record of another customer is refused as
``not_allowed`` and logged at WARNING with the requested value masked.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from langchain_core.tools import ToolException
from pydantic import ValidationError

from app.core.logging import mask_pii
from app.customers.source import BusinessData, BusinessDataError, NotAllowed, Unavailable
from app.tools import arguments as args_check
from app.tools.binding import IDENTITY_KEYS, AgentTool, bind
from app.tools.builtin import Desk, KefuTool, builtin_tools, error

log = logging.getLogger(__name__)

Result = dict[str, Any]
# `error` stays importable from here: the agent loop words its own failures with it.
__all__ = ["Result", "ToolContext", "ToolRunner", "error"]


@dataclass(frozen=True)
class ToolContext:
    """Who is asking, as the conversation knows it (never as the model says)."""

    customer_id: str | None
    conversation_id: str
    # The customer's own number, which a model may repeat as an argument; when None, the
    # runner asks the business data for it (only if an argument needs it).
    customer_phone: str | None = None


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


def _as_result(output: Any) -> Result:
    """An operator's tool may return anything: the model gets a JSON object."""
    value = json.loads(json.dumps(output, ensure_ascii=False, default=str))
    return value if isinstance(value, dict) else {"result": value}


def _validation_message(exc: ValidationError) -> tuple[str, str | None]:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or None
    return (f"{field}: {first['msg']}" if field else str(first["msg"])), field


class ToolRunner:
    def __init__(
        self,
        source: BusinessData,
        *,
        service_hours: str = "8:00–22:00",
        account_app: str = "the company's app",
        recent_orders: int = 3,
        extra: Sequence[AgentTool] = (),
    ) -> None:
        self._source = source
        self._service_hours = service_hours
        self._app = account_app
        desk = Desk(source, service_hours, account_app, recent_orders)
        tools = [bind(t) for t in builtin_tools(desk)] + list(extra)
        self._tools = {t.name: t for t in tools}

    @property
    def source(self) -> BusinessData:
        return self._source

    @property
    def definitions(self) -> list[dict[str, Any]]:
        """The ``tools`` list for the chat-completions request (copies: callers may edit)."""
        return [json.loads(json.dumps(t.definition)) for t in self._tools.values()]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    def parameters(self, name: str) -> dict[str, Any]:
        return self._tools[name].parameters

    async def run(
        self, name: str, arguments: Mapping[str, Any] | str | None, ctx: ToolContext
    ) -> Result:
        bound = self._tools.get(name)
        if bound is None:
            return error("unknown_tool", f"no tool named {name!r}; tools: {', '.join(self._tools)}")
        try:
            args = args_check.decode(arguments)
        except args_check.ArgumentError as exc:
            return error("invalid_arguments", exc.message)
        ctx = await self._with_phone(args, ctx)
        refused = self._foreign_identity(name, args, ctx)
        if refused is not None:
            return refused
        args = {k: v for k, v in args.items() if k.lower() not in IDENTITY_KEYS}
        if bound.needs_customer and ctx.customer_id is None:
            return error(
                "login_required",
                "The customer is not logged in, so their records cannot be looked up. Ask them "
                f"to log in to {self._app}, then ask again.",
            )
        try:
            args_check.check(args, bound.parameters)
        except args_check.ArgumentError as exc:
            return error("invalid_arguments", exc.message, field=exc.field)
        return await self._invoke(bound, args, ctx)

    async def _invoke(self, bound: AgentTool, args: dict[str, Any], ctx: ToolContext) -> Result:
        name = bound.name
        # A missing nullable value is read as null: strict mode would have sent it.
        for key in bound.parameters.get("required", []):
            args.setdefault(key, None)
        injected = bound.injected(customer_id=ctx.customer_id, conversation_id=ctx.conversation_id)
        try:
            output = await bound.tool.ainvoke({**args, **injected})
        except ValidationError as exc:
            message, field = _validation_message(exc)
            return error("invalid_arguments", message, field=field)
        except ToolException as exc:  # the tool's own words for the model
            return error("failed", str(exc))
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
        return output if isinstance(bound.tool, KefuTool) else _as_result(output)

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
    def _unavailable() -> Result:
        return error(
            "unavailable",
            "The account system did not answer. Apologise, do not guess any figures, and offer "
            "to try again in a moment or to hand over to a human agent (request_human).",
        )
