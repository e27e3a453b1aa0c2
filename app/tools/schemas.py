"""The agent's tools as OpenAI function definitions, with strict JSON schemas.

Strict mode (``"strict": true``) is what lets a structured-output backend (vLLM with
xgrammar or outlines) constrain the arguments as they are decoded, so every schema keeps to
the subset it supports: ``additionalProperties: false``, every property listed in
``required`` (an optional value is a nullable type instead), bounded strings, enums and
patterns where the values are known.

No tool takes a customer id, phone number or account: whose records are read comes from the
conversation (the channel authenticated the customer), never from the model.
"""

from __future__ import annotations

import copy
from typing import Any

from app.customers.models import TicketCategory

MONTH_PATTERN = r"^\d{4}-\d{2}$"
# Order numbers and references: letters, digits, "-" and "_" only, so nothing else reaches a
# URL or a query even before it is escaped.
REFERENCE_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
HANDOFF_REASONS = ("customer_asked", "complaint", "account_security", "unresolved", "other")

Schema = dict[str, Any]


def _function(name: str, description: str, properties: dict[str, Schema]) -> Schema:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": list(properties),
                "additionalProperties": False,
            },
        },
    }


GET_BILL = _function(
    "get_bill",
    "Look up the logged-in customer's bill for one month: total, status, every line item "
    "(plan fee, data and voice overage, SMS, roaming, third-party charges, discounts) and the "
    "overage total. Use it to explain a bill or why it went up; call it once per month to "
    "compare months. Bills are issued on the 3rd of the following month.",
    {
        "month": {
            "type": "string",
            "description": "Billing month as YYYY-MM, e.g. 2026-10.",
            "pattern": MONTH_PATTERN,
            "minLength": 7,
            "maxLength": 7,
        }
    },
)

GET_ORDER = _function(
    "get_order",
    "Look up one of the logged-in customer's orders: status, items, amount, "
    "shipment (carrier, tracking number, shipped and delivered times) and refund (status, "
    "amount, where it goes back to, expected date). With order_id null, returns the "
    "customer's latest orders instead.",
    {
        "order_id": {
            "type": ["string", "null"],
            "description": "Order number as the customer gave it, e.g. YF202611200137; "
            "null when the customer does not know it.",
            "pattern": REFERENCE_PATTERN,
            "maxLength": 32,
        }
    },
)

GET_MEMBERSHIP = _function(
    "get_membership",
    "Look up the logged-in customer's membership: tier and its expiry, qualifying spend over "
    "the last 12 months, points balance, points expiring and when, and the history of tier "
    "changes with the reason for each (e.g. a downgrade at the annual review).",
    {},
)

CREATE_TICKET = _function(
    "create_ticket",
    "Open a support ticket for the logged-in customer when the issue needs follow-up by "
    "staff (a bill dispute, a lost parcel, missing points, a complaint). Returns the ticket "
    "number to give the customer. Create one ticket per issue.",
    {
        "category": {
            "type": "string",
            "enum": [c.value for c in TicketCategory],
            "description": "What the ticket is about.",
        },
        "summary": {
            "type": "string",
            "description": "What the customer needs and the facts already checked (order "
            "number, month, amounts), in the customer's language. Never include passwords, "
            "verification codes, ID or bank card numbers.",
            "minLength": 5,
            "maxLength": 500,
        },
        "reference": {
            "type": ["string", "null"],
            "description": "The order number or billing month (YYYY-MM) it concerns, or null.",
            "pattern": REFERENCE_PATTERN,
            "maxLength": 32,
        },
    },
)

REQUEST_HUMAN = _function(
    "request_human",
    "Hand the conversation to a human agent: when the customer asks for one, wants to "
    "complain, reports an account-security problem (a stolen phone, charges they did not "
    "make), or the same problem is still unsolved after two tries.",
    {
        "reason": {
            "type": "string",
            "enum": list(HANDOFF_REASONS),
            "description": "Why the conversation goes to a human.",
        },
        "summary": {
            "type": "string",
            "description": "One or two sentences for the human agent: what the customer "
            "wants and what was already checked.",
            "minLength": 1,
            "maxLength": 300,
        },
    },
)

TOOLS: tuple[Schema, ...] = (GET_BILL, GET_ORDER, GET_MEMBERSHIP, CREATE_TICKET, REQUEST_HUMAN)
TOOL_NAMES: tuple[str, ...] = tuple(t["function"]["name"] for t in TOOLS)
# Tools that read or write the customer's records, so they need a logged-in customer.
ACCOUNT_TOOLS = frozenset({"get_bill", "get_order", "get_membership", "create_ticket"})


def parameters(name: str) -> Schema:
    for tool in TOOLS:
        if tool["function"]["name"] == name:
            return tool["function"]["parameters"]  # type: ignore[no-any-return]
    raise KeyError(name)


def tool_definitions(names: tuple[str, ...] | None = None) -> list[Schema]:
    """The ``tools`` list for a chat-completions request (copies: callers may edit them)."""
    wanted = TOOL_NAMES if names is None else names
    return [copy.deepcopy(t) for t in TOOLS if t["function"]["name"] in wanted]
