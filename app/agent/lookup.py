"""An account question answered without the LLM: the customer's own record, looked up with
the same tool the agent would call and summarised from prompts/agent.yaml, or the offer of a
human. Never a quoted FAQ: an account question's answer differs from customer to customer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.agent import prompts as agent_prompts
from app.tools.service import ToolContext, ToolRunner

# Bills are issued after their month ends: the latest one is last month's, or the month
# before when last month's is not out yet.
_BILL_MONTHS_BACK = (1, 2)


@dataclass(frozen=True)
class LookupAnswer:
    text: str
    tool_calls: list[dict[str, Any]]


def topic(message: str) -> str | None:
    """The tool the message is about, by the topics in prompts/agent.yaml."""
    topics: dict[str, list[str]] = agent_prompts.load().raw["lookup"]["topics"]
    for tool, patterns in topics.items():
        if any(re.search(p, message, re.IGNORECASE) for p in patterns):
            return tool
    return None


async def answer(
    message: str,
    *,
    lang: str,
    ctx: ToolContext,
    tools: ToolRunner,
    hours: str,
    app: str,
    today: date | None = None,
) -> LookupAnswer:
    t: dict[str, str] = agent_prompts.load().raw["lookup"]["zh" if lang == "zh" else "en"]
    tool = topic(message)
    if ctx.customer_id is None:
        return LookupAnswer(t["login"].format(app=app, hours=hours), [])
    if tool is None:
        return LookupAnswer(t["human"].format(app=app, hours=hours), [])
    calls: list[dict[str, Any]] = []
    for arguments in _attempts(tool, today or date.today()):
        result = await tools.run(tool, arguments, ctx)
        calls.append({"round": 0, "name": tool, "arguments": arguments, "result": result})
        if "error" not in result:
            return LookupAnswer(_render(tool, result, t, lang=lang, hours=hours), calls)
        if result["error"] != "not_found":
            break
    return LookupAnswer(t["human"].format(app=app, hours=hours), calls)


def _attempts(tool: str, today: date) -> list[dict[str, Any]]:
    if tool != "get_bill":
        return [{}]
    months = []
    for back in _BILL_MONTHS_BACK:
        year, month = today.year, today.month - back
        while month < 1:
            year, month = year - 1, month + 12
        months.append({"month": f"{year:04d}-{month:02d}"})
    return months


def _render(tool: str, record: dict[str, Any], t: dict[str, str], *, lang: str, hours: str) -> str:
    if tool == "get_bill":
        due = t["bill_due"].format(**record) if record.get("due_date") else ""
        items = ""
        if record.get("items"):
            label = "category_label" if lang == "zh" else "category"
            parts = [f"{i[label]} {i['amount']}" for i in record["items"]]
            items = (
                ("其中：" if lang == "zh" else "Made up of: ")
                + ("；" if lang == "zh" else "; ").join(parts)
                + ("。" if lang == "zh" else ". ")
            )
        return t["get_bill"].format(
            **{**record, "due": due, "items": items, "hours": hours, "status": record["status"]}
        )
    if tool == "get_order":
        orders = record.get("orders") or [record]
        lines = []
        for order in orders:
            refund = order.get("refund") or {}
            refund_text = (
                t["order_refund"].format(
                    refund_status=refund.get("status_label" if lang == "zh" else "status", "")
                )
                if refund
                else ""
            )
            lines.append(
                t["order_line"].format(
                    **{
                        **order,
                        "placed": str(order.get("placed_at", ""))[:10],
                        "refund": refund_text,
                        "status": order.get("status", ""),
                    }
                )
            )
        return t["get_order"].format(orders="\n".join(lines), hours=hours)
    expiring = t["points_expiring"].format(**record) if record.get("points_expiring") else ""
    return t["get_membership"].format(
        **{**record, "expiring": expiring, "hours": hours, "tier": record.get("tier", "")}
    )
