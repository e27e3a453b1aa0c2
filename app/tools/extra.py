"""The operator's own LangChain tools, named in ``KEFU_EXTRA_TOOLS`` and allowed by name in
``KEFU_EXTRA_TOOLS_ALLOWED``.

Each entry is ``package.module:attr``, where ``attr`` is a ``BaseTool``, a list of them, or a
callable returning either (a toolkit's ``get_tools``, a factory reading its own settings).
Only tools named in the allowlist reach the model: a toolkit may bring more than the operator
meant to expose. Anything wrong (an import that fails, an allowed name no entry provides, a
tool that lets the model choose the customer) is a ``ToolBindingError`` at startup, not a
surprise in a customer's conversation.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection, Sequence
from typing import Any

from langchain_core.tools import BaseTool

from app.tools.binding import AgentTool, ToolBindingError, bind

log = logging.getLogger(__name__)


def _target(spec: str) -> Any:
    module_name, sep, attr = spec.strip().partition(":")
    if not sep or not module_name or not attr:
        raise ToolBindingError(
            f"KEFU_EXTRA_TOOLS entry {spec!r} is not of the form package.module:attr"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ToolBindingError(
            f"KEFU_EXTRA_TOOLS entry {spec!r}: cannot import {module_name!r} ({exc})"
        ) from exc
    try:
        value = module
        for part in attr.split("."):
            value = getattr(value, part)
    except AttributeError as exc:
        raise ToolBindingError(
            f"KEFU_EXTRA_TOOLS entry {spec!r}: {module_name} has no {attr!r}"
        ) from exc
    return value


def _tools(spec: str, value: Any) -> list[BaseTool]:
    if not isinstance(value, BaseTool | list | tuple) and callable(value):
        try:
            value = value()
        except Exception as exc:
            raise ToolBindingError(
                f"KEFU_EXTRA_TOOLS entry {spec!r}: calling it failed ({exc!r})"
            ) from exc
    items = [value] if isinstance(value, BaseTool) else value
    if not isinstance(items, list | tuple) or not all(isinstance(t, BaseTool) for t in items):
        raise ToolBindingError(
            f"KEFU_EXTRA_TOOLS entry {spec!r} is not a LangChain BaseTool, a list of them, or "
            f"a callable returning one (got {type(value).__name__})"
        )
    return list(items)


def load(
    specs: Sequence[str], *, allowed: Collection[str], reserved: Collection[str]
) -> list[AgentTool]:
    """The allowed tools of ``specs``, bound for the agent; ``reserved`` are names taken by
    kefu's own tools."""
    if not specs:
        return []
    if not allowed:
        raise ToolBindingError(
            "KEFU_EXTRA_TOOLS is set but KEFU_EXTRA_TOOLS_ALLOWED is empty: list the names of "
            "the tools the agent may call"
        )
    found: dict[str, BaseTool] = {}
    for spec in specs:
        for tool in _tools(spec, _target(spec)):
            if tool.name in reserved or tool.name in found:
                raise ToolBindingError(
                    f"KEFU_EXTRA_TOOLS entry {spec!r}: a tool named {tool.name!r} is already "
                    "defined; give the tool another name"
                )
            found[tool.name] = tool
    missing = sorted(set(allowed) - set(found))
    if missing:
        raise ToolBindingError(
            f"KEFU_EXTRA_TOOLS_ALLOWED names {', '.join(missing)}, which KEFU_EXTRA_TOOLS does "
            f"not provide (it provides: {', '.join(found) or 'nothing'})"
        )
    left_out = sorted(set(found) - set(allowed))
    if left_out:
        log.info("extra tools not allowed, left out", extra={"tools": left_out})
    return [bind(tool) for name, tool in found.items() if name in allowed]
