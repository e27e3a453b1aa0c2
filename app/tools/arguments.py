"""Check tool arguments against the tool's own schema, with messages the model can act on.

Structured decoding should already have enforced the schema, but not every backend does
(vLLM applies it only when a tool call is forced), so the runner checks again. The checker
covers the JSON Schema subset ``app.tools.schemas`` uses; for anything beyond it (an
operator's tool with ``anyOf`` or nested objects) the tool's own pydantic validation decides.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "null": type(None),
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
}


class ArgumentError(ValueError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def decode(arguments: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """Arguments as a dict; the OpenAI protocol sends them as a JSON string."""
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError as exc:
            raise ArgumentError("arguments are not valid JSON; send a JSON object") from exc
    if not isinstance(arguments, Mapping):
        raise ArgumentError("arguments must be a JSON object")
    return dict(arguments)


def _types(schema: Mapping[str, Any]) -> list[str]:
    types = schema.get("type", [])
    return [types] if isinstance(types, str) else list(types)


def _check_value(name: str, value: Any, schema: Mapping[str, Any]) -> None:
    types = _types(schema)
    numeric = ("integer", "number")
    if types and not any(
        isinstance(value, _TYPES[t]) and not (t in numeric and isinstance(value, bool))
        for t in types
    ):
        wanted = " or ".join(types)
        raise ArgumentError(f"{name} must be {wanted}, not {type(value).__name__}", field=name)
    if value is None:
        return
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(map(str, schema["enum"]))
        raise ArgumentError(f"{name} must be one of: {allowed}; got {value!r}", field=name)
    if isinstance(value, str):
        # The form first: "Oct 2026" is better told "use YYYY-MM" than "too long".
        if "pattern" in schema and not re.search(schema["pattern"], value):
            hint = schema.get("description", "")
            raise ArgumentError(f"{name} {value!r} is not in the expected form. {hint}", field=name)
        if len(value) > schema.get("maxLength", len(value)):
            raise ArgumentError(
                f"{name} is too long ({len(value)} characters, at most {schema['maxLength']})",
                field=name,
            )
        if len(value) < schema.get("minLength", 0):
            raise ArgumentError(
                f"{name} is too short (at least {schema['minLength']} characters)", field=name
            )


def check(arguments: Mapping[str, Any], parameters: Mapping[str, Any]) -> None:
    """Raise ``ArgumentError`` for the first way ``arguments`` breaks the object schema."""
    properties: Mapping[str, Any] = parameters.get("properties", {})
    unknown = sorted(set(arguments) - set(properties))
    if unknown and parameters.get("additionalProperties") is False:
        allowed = ", ".join(properties) or "none"
        raise ArgumentError(
            f"unknown argument(s): {', '.join(unknown)}; this tool takes: {allowed}",
            field=unknown[0],
        )
    for name in parameters.get("required", []):
        schema = properties[name]
        if name not in arguments:
            if "null" not in _types(schema):
                raise ArgumentError(f"missing argument: {name}", field=name)
            continue  # a missing nullable value is read as null: strict mode would send it
        _check_value(name, arguments[name], schema)
