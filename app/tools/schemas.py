"""What the model sees of kefu's tools: their argument models, and the strict OpenAI function
definitions LangChain derives from a tool (``convert_to_openai_tool(tool, strict=True)``).

Strict mode (``"strict": true``) is what lets a structured-output backend (vLLM with
xgrammar or outlines) constrain the arguments as they are decoded, so every schema keeps to
the subset it supports: ``additionalProperties: false``, every property listed in
``required`` (an optional value is a nullable type instead), bounded strings, enums and
patterns where the values are known. A nullable value has no default (strict mode sends
it) and is written ``"type": ["string", "null"]`` rather than pydantic's ``anyOf``, the form
the runner's checker reads.

No argument model has a customer id, phone number or account: whose records are read comes
from the conversation (the channel authenticated the customer), never from the model. The
tools receive it as an ``InjectedToolArg`` (``app.tools.builtin``), which LangChain leaves out
of the schema it derives.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

MONTH_PATTERN = r"^\d{4}-\d{2}$"
# Order numbers and references: letters, digits, "-" and "_" only, so nothing else reaches a
# URL or a query even before it is escaped.
REFERENCE_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
HANDOFF_REASONS = ("customer_asked", "complaint", "account_security", "unresolved", "other")

Schema = dict[str, Any]
HandoffReason = Literal["customer_asked", "complaint", "account_security", "unresolved", "other"]
# The values of app.customers.models.TicketCategory (a test keeps them in step).
Category = Literal["billing", "order", "membership", "network", "complaint", "other"]


def _nullable_reference(description: str) -> Any:
    return WithJsonSchema(
        {
            "type": ["string", "null"],
            "description": description,
            "pattern": REFERENCE_PATTERN,
            "maxLength": 32,
        }
    )


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BillArguments(_Arguments):
    month: str = Field(
        description="Billing month as YYYY-MM, e.g. 2026-10.",
        pattern=MONTH_PATTERN,
        min_length=7,
        max_length=7,
    )


class OrderArguments(_Arguments):
    order_id: Annotated[
        str | None,
        Field(pattern=REFERENCE_PATTERN, max_length=32),
        _nullable_reference(
            "Order number as the customer gave it, e.g. YF202611200137; null when the customer "
            "does not know it."
        ),
    ]


class MembershipArguments(_Arguments):
    pass


class TicketArguments(_Arguments):
    category: Category = Field(description="What the ticket is about.")
    summary: str = Field(
        description="What the customer needs and the facts already checked (order number, "
        "month, amounts), in the customer's language. Never include passwords, verification "
        "codes, ID or bank card numbers.",
        min_length=5,
        max_length=500,
    )
    reference: Annotated[
        str | None,
        Field(pattern=REFERENCE_PATTERN, max_length=32),
        _nullable_reference("The order number or billing month (YYYY-MM) it concerns, or null."),
    ]


class HandoffArguments(_Arguments):
    reason: HandoffReason = Field(description="Why the conversation goes to a human.")
    summary: str = Field(
        description="One or two sentences for the human agent: what the customer wants and "
        "what was already checked.",
        min_length=1,
        max_length=300,
    )


DESCRIPTIONS = {
    "get_bill": "Look up the logged-in customer's bill for one month: total, status, every line "
    "item (plan fee, data and voice overage, SMS, roaming, third-party charges, discounts) and "
    "the overage total. Use it to explain a bill or why it went up; call it once per month to "
    "compare months. Bills are issued on the 3rd of the following month.",
    "get_order": "Look up one of the logged-in customer's orders: status, items, amount, "
    "shipment (carrier, tracking number, shipped and delivered times) and refund (status, "
    "amount, where it goes back to, expected date). With order_id null, returns the "
    "customer's latest orders instead.",
    "get_membership": "Look up the logged-in customer's membership: tier and its expiry, "
    "qualifying spend over the last 12 months, points balance, points expiring and when, and "
    "the history of tier changes with the reason for each (e.g. a downgrade at the annual "
    "review).",
    "create_ticket": "Open a support ticket for the logged-in customer when the issue needs "
    "follow-up by staff (a bill dispute, a lost parcel, missing points, a complaint). Returns "
    "the ticket number to give the customer. Create one ticket per issue.",
    "request_human": "Hand the conversation to a human agent: when the customer asks for one, "
    "wants to complain, reports an account-security problem (a stolen phone, charges they did "
    "not make), or the same problem is still unsolved after two tries.",
}
TOOL_NAMES: tuple[str, ...] = tuple(DESCRIPTIONS)


def definition(tool: BaseTool) -> Schema:
    """The ``tools`` entry for ``tool``: LangChain's strict OpenAI form of its model-visible
    arguments (injected arguments are not among them)."""
    tool_definition = dict(convert_to_openai_tool(tool, strict=True))
    parameters = parameters_of(tool_definition)
    # Strict mode lists every property as required; LangChain leaves the list out when
    # there are none, and the runner's checker reads it.
    parameters.setdefault("required", list(parameters.get("properties", {})))
    return tool_definition


def parameters_of(tool_definition: Schema) -> Schema:
    return tool_definition["function"]["parameters"]  # type: ignore[no-any-return]
