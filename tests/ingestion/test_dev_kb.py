"""The real development knowledge base parses into well-formed chunks, headings included."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ingestion.loaders import load
from ingestion.splitter import split
from ingestion.tokens import count_tokens
from knowledge.chunks import ChunkDraft
from tests.conftest import DEV_SET

KB = DEV_SET / "kb"
FILES = sorted(KB.iterdir()) if KB.is_dir() else []
pytestmark = pytest.mark.skipif(not FILES, reason=f"{KB} not present")


def _chunks(name: str) -> list[ChunkDraft]:
    path = KB / name
    return split(load(path.read_bytes(), path.name))


def _body(chunk: ChunkDraft) -> str:
    return chunk.text.split("\n", 1)[1] if chunk.heading_path else chunk.text


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_file_yields_headed_bounded_chunks(path: Path) -> None:
    doc = load(path.read_bytes(), path.name)
    chunks = split(doc)
    assert chunks and all(chunk.text.strip() and chunk.content.strip() for chunk in chunks)
    if path.suffix == ".csv":
        assert all(chunk.kind == "faq" for chunk in chunks)
        return
    assert doc.title
    assert all(chunk.kind == "doc" for chunk in chunks)
    # Every file has a title and numbered sections, so every chunk sits below the title and
    # most sit in a section.
    assert all(chunk.heading_path[:1] == (doc.title,) or path.suffix == ".pdf" for chunk in chunks)
    assert sum(len(chunk.heading_path) >= 2 for chunk in chunks) >= len(chunks) * 0.8
    for chunk in chunks:
        assert count_tokens(_body(chunk)) <= 300 * (2 if "|" in chunk.text else 1)


def test_html_boilerplate_is_gone() -> None:
    text = "\n".join(chunk.text for chunk in _chunks("payment-methods.html"))
    for boilerplate in ("营业厅查询", "版权所有", "搜索", "看懂我的账单", "有帮助", "帮助中心 >"):
        assert boilerplate not in text
    assert "北风通信App | 微信支付、支付宝、银联卡、信用卡（含境外Visa/Mastercard） | 实时" in text


def test_pdf_pages_headings_and_tables() -> None:
    chunks = _chunks("roaming-guide.pdf")
    assert {chunk.page for chunk in chunks} == {1, 2}
    text = "\n".join(chunk.text for chunk in chunks)
    assert "Page 1" not in text and "Northwind Mobile - Roaming Guide" not in text
    assert "Zone 1 | ¥25 | 3 GB | Unlimited at 512 kbps" in text
    zones = next(c for c in chunks if c.heading_path[-1:] == ("2. Roaming zones",))
    assert "Zone 3 | United Kingdom, EU countries" in zones.text and "New Zealand" in zones.text
    assert all(c.heading_path[0] == "International Roaming Guide" for c in chunks)


def test_docx_lists_are_numbered_and_tables_stay_in_order() -> None:
    chunks = _chunks("number-and-sim-services.docx")
    texts = [chunk.text for chunk in chunks]
    conditions = next(t for t in texts if "办理条件" in t.split("\n")[0])
    assert (
        "\n1. 号码已完成实名登记" in conditions
        and "\n7. 近72小时内未办理过补卡、换卡。" in conditions
    )
    penalty = next(i for i, t in enumerate(texts) if "3. 合约违约金" in t.split("\n")[0])
    rights = next(i for i, t in enumerate(texts) if "积分 | 携出生效时清零，请提前兑换" in t)
    assert rights == penalty + 1


def test_txt_headings_from_underlines_and_numerals() -> None:
    paths = {chunk.heading_path for chunk in _chunks("invoice-guide.txt")}
    assert ("北风通信 发票开具指南", "一、发票类型", "2. 增值税专用发票") in paths
    assert ("北风通信 发票开具指南", "二、开票方式", "（三）家庭宽带") in paths


def test_faq_csv_rows_become_faq_chunks() -> None:
    with (KB / "faq.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    chunks = _chunks("faq.csv")
    assert len(chunks) == len(rows)
    first = chunks[0]
    assert first.question == rows[0]["question"] and first.content == rows[0]["answer"]
    assert first.text.split("\n") == [rows[0]["question"], *rows[0]["alt_questions"].split("|")]
