"""Dify's ``metadata_condition`` evaluated against a chunk, after retrieval.

Fields a condition can name (Dify passes the names its user typed, so a few spellings each):
the document name (``document_name``, ``source``, ``title``, ``name``, ``filename``), its id
(``document_id``), the chunk kind (``kind``, ``type``: doc or faq), its language (``lang``,
``language``), its headings (``heading``, ``heading_path``, ``section``) and ``page``. A
condition on any other field, or with an operator this service does not know (the date
operators: chunks carry no dates), matches nothing rather than failing the request. A
condition naming several fields holds when any of them satisfies it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.dify.schemas import ConditionValue, MetadataCondition, MetadataConditionItem
from knowledge.chunks import Chunk

FieldValue = str | int | None

_GETTERS: tuple[tuple[tuple[str, ...], Callable[[Chunk], FieldValue]], ...] = (
    (("document_name", "source", "title", "name", "filename"), lambda c: c.source),
    (("document_id",), lambda c: str(c.document_id)),
    (("kind", "type"), lambda c: c.kind),
    (("lang", "language"), lambda c: c.lang),
    (("heading", "heading_path", "section"), lambda c: " > ".join(c.heading_path)),
    (("page",), lambda c: c.page),
)
_FIELDS = {name: getter for names, getter in _GETTERS for name in names}


def _values(value: ConditionValue, *, split: bool) -> list[str]:
    """The values a field is compared with: a list as given, ``"a,b"`` split for in/not in."""
    if isinstance(value, list):
        return [str(v).strip().casefold() for v in value]
    if value is None:
        return []
    text = str(value).strip().casefold()
    return [v.strip() for v in text.split(",") if v.strip()] if split else [text]


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _compare(field: FieldValue, op: str, value: ConditionValue) -> bool:
    text = "" if field is None else str(field).casefold()
    if op == "empty":
        return text == ""
    if op == "not empty":
        return text != ""
    if op in ("=", "==", "≠", "!=", ">", "<", "≥", ">=", "≤", "<="):
        left, right = _number(field), _number(value)
        if left is None or right is None:
            return False
        return {
            "=": left == right,
            "==": left == right,
            "≠": left != right,
            "!=": left != right,
            ">": left > right,
            "<": left < right,
            "≥": left >= right,
            ">=": left >= right,
            "≤": left <= right,
            "<=": left <= right,
        }[op]
    positive: dict[str, Callable[[str], bool]] = {
        "contains": lambda v: v in text,
        "start with": text.startswith,
        "end with": text.endswith,
        "is": lambda v: text == v,
        "in": lambda v: text == v,
    }
    negated = {"not contains": "contains", "is not": "is", "not in": "in"}
    base = negated.get(op, op)
    test = positive.get(base)
    if test is None:
        return False  # before/after and anything unknown: chunks carry no such data
    hit = any(test(v) for v in _values(value, split=base == "in"))
    return not hit if op in negated else hit


def _holds(chunk: Chunk, item: MetadataConditionItem) -> bool:
    op = item.comparison_operator.strip().lower()
    for name in item.name:
        getter = _FIELDS.get(name.strip().lower())
        if getter is not None and _compare(getter(chunk), op, item.value):
            return True
    return False


def is_active(condition: MetadataCondition | None) -> bool:
    return condition is not None and bool(condition.conditions)


def matches(chunk: Chunk, condition: MetadataCondition | None) -> bool:
    if condition is None or not condition.conditions:
        return True
    results = (_holds(chunk, item) for item in condition.conditions)
    return any(results) if condition.logical_operator == "or" else all(results)
