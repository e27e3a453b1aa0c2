"""`kefu chat` as users run it: a real subprocess on a fresh data directory, with the same
settings as `kefu serve` (here an LLM endpoint that is a scripted server on loopback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.agent.conftest import tool_reply
from tests.llm.scripted_server import ScriptedServer, text_reply

KEFU = [sys.executable, "-m", "app.cli"]


def _run(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    base.update({"KEFU_DATA_DIR": str(data_dir), **env})
    return subprocess.run([*KEFU, *args], env=base, capture_output=True, text=True, timeout=300)


def test_chat_json_with_the_llm_shows_tool_calls_and_citations(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "billing.md").write_text(
        "# 账单说明\n\n## 流量超额\n\n超出套餐的流量按每GB 5元收取，计入次月账单。\n",
        encoding="utf-8",
    )
    data = tmp_path / "data"
    assert _run(["demo-data"], data).returncode == 0
    ingest = _run(["ingest", str(kb), "--kb", "demo"], data)
    assert ingest.returncode == 0, ingest.stderr

    with ScriptedServer() as llm:
        llm.script(
            tool_reply("get_bill", {"month": "2026-10"}),
            text_reply("您10月的流量超额按每GB 5元计费。[1]"),
        )
        out = _run(
            ["chat", "-m", "我上个月流量费为什么翻倍了", "--customer", "C10001", "--json"],
            data,
            KEFU_LLM_BASE_URL=llm.base_url,
            KEFU_LLM_MODEL=llm.model,
        )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["route"] == "llm"
    assert body["answer"] == "您10月的流量超额按每GB 5元计费。[1]"
    assert [c["source"] for c in body["citations"]] == ["billing.md"]
    assert [t["name"] for t in body["tool_calls"]] == ["get_bill"]
    assert body["tool_calls"][0]["result"]["customer_id"] == "C10001"


def test_chat_without_an_llm_answers_from_rules(tmp_path: Path) -> None:
    out = _run(["chat", "-m", "你好", "--json"], tmp_path / "data")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["route"] == "smalltalk" and body["answer"] and body["tool_calls"] == []


def test_an_account_question_on_the_demo_reaches_the_bill_never_an_faq(tmp_path: Path) -> None:
    # The demo FAQ has "when is the bill issued, where do I see it": close in meaning, but
    # "what is my bill" is the customer's own record.
    data = tmp_path / "data"
    assert _run(["demo-data"], data).returncode == 0
    demo_faq = Path(__file__).resolve().parents[2] / "demo" / "kb" / "faq.csv"
    ingest = _run(["ingest", str(demo_faq), "--kb", "demo"], data)
    assert ingest.returncode == 0, ingest.stderr
    question = ["chat", "-m", "我的账单是多少？", "--json"]

    with ScriptedServer() as llm:
        llm.script(tool_reply("get_bill", {"month": "2026-10"}), text_reply("您10月账单119.40元。"))
        out = _run(
            [*question, "--customer", "C10001"],
            data,
            KEFU_LLM_BASE_URL=llm.base_url,
            KEFU_LLM_MODEL=llm.model,
        )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert (body["route"], body["intent"]) == ("llm", "llm.account")
    assert [t["name"] for t in body["tool_calls"]] == ["get_bill"]
    assert body["tool_calls"][0]["result"]["customer_id"] == "C10001"

    # No LLM: the customer's own bill, looked up and summarised; no quoted FAQ.
    out = _run([*question, "--customer", "C10001"], data)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    bills = [t for t in body["tool_calls"] if "error" not in t["result"]]
    assert bills and bills[0]["name"] == "get_bill"
    assert bills[0]["result"]["total"] in body["answer"]
    assert body["citations"] == [] and "faq.csv" not in body["answer"]

    # Nobody logged in: nothing to look up, so the offer of a human (and where to log in).
    out = _run(question, data)
    body = json.loads(out.stdout)
    assert body["tool_calls"] == [] and body["citations"] == []
    assert "人工客服" in body["answer"]
