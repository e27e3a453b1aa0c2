"""The OpenAPI 3 document Dify imports as a custom tool (``GET /dify/openapi.json``).

Written by hand rather than taken from FastAPI's schema, because Dify's parser
(``api/core/tools/utils/parser.py``, ``ApiBasedToolSchemaParser``) reads a narrow subset:
``servers[0].url`` is the base of every call; each operation becomes one tool named by its
``operationId`` (``^[a-zA-Z0-9_-]{1,64}$``); the request body's properties become the tool's
parameters, with a ``$ref`` resolved one level only and a parameter typed only when its
schema has a plain ``type`` (string, number, integer, boolean). So the bodies are flat
objects of plain-typed properties, no ``$ref`` and no ``anyOf``; optional means "not in
``required``". Auth is configured in Dify's tool form (API key, Bearer) and declared here as
a bearer scheme for other importers.
"""

from __future__ import annotations

from typing import Any

from app import __version__
from app.core.config import Settings

TOOLS_PREFIX = "/dify/tools"


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _json_body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": properties, "required": required}
            }
        },
    }


def _responses(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "200": {
            "description": description,
            "content": {
                "application/json": {"schema": {"type": "object", "properties": properties}}
            },
        },
        "403": {"description": "Missing or wrong API key (error_code 1001 or 1002)."},
        "422": {"description": "Invalid request (error_code 422)."},
    }


def build(settings: Settings) -> dict[str, Any]:
    company, bot = settings.company_name, settings.bot_name
    ask = {
        "operationId": "ask_support_agent",
        "summary": f"Ask {company}'s customer-service agent",
        "description": (
            f"Ask {company}'s customer-service agent ({bot}) a customer's question about plans, "
            "bills, orders, delivery, refunds, membership or store policy. Answers come from "
            "the company's knowledge base and account tools, with citations; the conversation "
            "continues per user. When handoff is true a human agent takes over."
        ),
        "requestBody": _json_body(
            {
                "question": _string("The customer's question, in their own words."),
                "user": _string(
                    "The end user's id (map sys.user_id here); one conversation per user.",
                    maxLength=100,
                ),
                "customer_id": _string(
                    "The logged-in customer's account id (e.g. C10001), if the app knows it; "
                    "omit for anonymous visitors.",
                    maxLength=64,
                ),
            },
            ["question", "user"],
        ),
        "responses": _responses(
            "The agent's answer",
            {
                "answer": _string("The reply to show the customer."),
                "conversation_id": _string("The conversation this turn belongs to."),
                "message_id": {
                    "type": "integer",
                    "description": "The answer's id, to rate it (POST /dify/tools/feedback).",
                },
                "route": _string("How it was answered: smalltalk, faq, llm, handoff or human."),
                "handoff": {"type": "boolean", "description": "A human agent takes over."},
                "citations": {
                    "type": "array",
                    "description": "Sources the answer is based on.",
                    "items": {"type": "object"},
                },
            },
        ),
    }
    order = {
        "operationId": "lookup_order",
        "summary": "Look up a customer's store order",
        "description": (
            f"Look up one {company} store order of a customer: status, items, amount, "
            "shipment and refund. Without order_id, returns the customer's latest orders. "
            "Failures come back as {error, message} describing what to tell the customer."
        ),
        "requestBody": _json_body(
            {
                "customer_id": _string("The customer's account id, e.g. C10001.", maxLength=64),
                "order_id": _string(
                    "The order number, e.g. YF202611200137; omit to list the latest orders.",
                    maxLength=32,
                ),
            },
            ["customer_id"],
        ),
        "responses": _responses(
            "The order, the latest orders, or an error the model can explain",
            {
                "id": _string("Order number."),
                "status_label": _string("Order status, in Chinese."),
                "orders": {"type": "array", "items": {"type": "object"}},
                "error": _string("not_found, not_allowed, invalid_arguments or unavailable."),
                "message": _string("What went wrong and what to tell the customer."),
            },
        ),
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"{company} customer service",
            "description": (
                f"Tools of {company}'s customer-service backend (kefu) for Dify: ask the "
                "support agent, look up an order."
            ),
            "version": __version__,
        },
        "servers": [{"url": settings.channels.public_base_url.rstrip("/")}],
        "paths": {
            f"{TOOLS_PREFIX}/ask": {"post": ask},
            f"{TOOLS_PREFIX}/order": {"post": order},
        },
        "components": {
            "schemas": {},
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearerAuth": []}],
    }
