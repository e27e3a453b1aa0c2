"""A LangChain tool as the agent runs it: which of its injected arguments receive the
conversation's customer and conversation, and whether it needs a logged-in customer.

An argument the model can see may never name a customer: a tool that takes ``customer_id``
(or any identity key) from the model could be pointed at anyone, so it is refused at startup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from langchain_core.tools import BaseTool
from langchain_core.utils.pydantic import get_fields

from app.tools.schemas import Schema, definition

# Argument names a model might use to point a tool at someone: none is a model-visible
# parameter; an injected one of these receives the conversation's customer id.
IDENTITY_KEYS = frozenset(
    {
        "customer_id", "customer", "customer_no", "user_id", "user", "uid", "account",
        "account_id", "account_no", "member_id", "phone", "phone_number", "mobile", "msisdn",
        "tel",
    }
)  # fmt: skip
CONVERSATION_KEY = "conversation_id"
# What OpenAI-protocol servers accept as a function name.
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ToolBindingError(ValueError):
    """A tool kefu cannot run safely; the message names the tool and the fix."""


@dataclass(frozen=True)
class AgentTool:
    tool: BaseTool
    definition: Schema
    customer_arg: str | None
    conversation_arg: str | None
    needs_customer: bool

    @property
    def name(self) -> str:
        return self.tool.name

    @property
    def parameters(self) -> Schema:
        return self.definition["function"]["parameters"]  # type: ignore[no-any-return]

    def injected(self, *, customer_id: str | None, conversation_id: str) -> dict[str, object]:
        values: dict[str, object] = {}
        if self.customer_arg is not None:
            values[self.customer_arg] = customer_id
        if self.conversation_arg is not None:
            values[self.conversation_arg] = conversation_id
        return values


def _required(field: Any) -> bool:
    is_required = getattr(field, "is_required", None)  # pydantic 2; a v1 field has .required
    return bool(is_required()) if callable(is_required) else bool(getattr(field, "required", 0))


def _fields(tool: BaseTool) -> tuple[set[str], set[str], set[str]]:
    """(model-visible, injected, required) argument names."""
    if isinstance(tool.args_schema, dict):
        visible = set(tool.args_schema.get("properties", {}))
        return visible, set(), set(tool.args_schema.get("required", []))
    full = tool.get_input_schema()
    call = tool.tool_call_schema
    visible = set(call["properties"]) if isinstance(call, dict) else set(get_fields(call))
    all_fields = get_fields(full)
    required = {n for n, f in all_fields.items() if _required(f)}
    return visible, set(all_fields) - visible, required


def bind(tool: BaseTool) -> AgentTool:
    """How the agent runs ``tool``; ``ToolBindingError`` when it cannot run it safely."""
    name = tool.name
    if not NAME.match(name):
        raise ToolBindingError(f"tool {name!r}: a tool name is 1 to 64 letters, digits, '_' or '-'")
    visible, injected, required = _fields(tool)
    exposed = sorted(k for k in visible if k.lower() in IDENTITY_KEYS)
    if exposed:
        raise ToolBindingError(
            f"tool {name!r} lets the model choose {exposed[0]!r}, so it could read another "
            "customer's records: annotate that argument as InjectedToolArg "
            f"(Annotated[str, InjectedToolArg]) and kefu fills it with the conversation's "
            "customer"
        )
    customer = sorted(k for k in injected if k.lower() in IDENTITY_KEYS)
    if len(customer) > 1:
        raise ToolBindingError(
            f"tool {name!r} has several injected identity arguments ({', '.join(customer)}): "
            "kefu injects the customer id into one"
        )
    unknown = sorted(injected - set(customer) - {CONVERSATION_KEY})
    if unknown:
        raise ToolBindingError(
            f"tool {name!r} has injected argument(s) kefu cannot fill: {', '.join(unknown)}; "
            f"kefu injects the customer id (customer_id or another identity name) and "
            f"{CONVERSATION_KEY}"
        )
    try:
        tool_definition = definition(tool)
    except (TypeError, ValueError) as exc:
        raise ToolBindingError(f"tool {name!r}: no strict OpenAI schema ({exc})") from exc
    customer_arg = customer[0] if customer else None
    needs_customer = getattr(tool, "needs_customer", None)
    if not isinstance(needs_customer, bool):
        # A tool that cannot take None for the customer runs only for a logged-in one.
        needs_customer = customer_arg is not None and customer_arg in required
    return AgentTool(
        tool=tool,
        definition=tool_definition,
        customer_arg=customer_arg,
        conversation_arg=CONVERSATION_KEY if CONVERSATION_KEY in injected else None,
        needs_customer=needs_customer,
    )
