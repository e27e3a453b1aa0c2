"""DOCX loader: heading styles, lists and tables in document order, archive guards."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest

from ingestion.loaders import ParseError, load
from tests.ingestion.fixtures import docx_bytes, zip_with_zeros


def _manual() -> bytes:
    document = docx.Document()
    document.add_paragraph("号卡业务指南", style="Title")
    document.add_paragraph("本指南说明补卡和挂失。")
    document.add_heading("一、补卡", level=1)
    document.add_paragraph("补卡前请准备：")
    document.add_paragraph("身份证原件", style="List Bullet")
    document.add_paragraph("授权委托书", style="List Bullet")
    table = document.add_table(rows=3, cols=2)
    values = [("渠道", "费用"), ("营业厅", "10元"), ("App", "20元")]
    for row, row_values in zip(table.rows, values, strict=True):
        for cell, value in zip(row.cells, row_values, strict=True):
            cell.text = value
    document.add_paragraph("表格之后的文字。")
    document.add_heading("1. 办理流程", level=2)
    document.add_paragraph("发送短信查询资格", style="List Number")
    document.add_paragraph("到营业厅办理", style="List Number")
    document.add_heading("二、挂失", level=1)
    document.add_paragraph("挂失免费。")
    return docx_bytes(document)


def test_headings_lists_and_tables_in_order() -> None:
    doc = load(_manual(), "manual.docx")
    assert doc.title == "号卡业务指南"
    assert [(s.heading_path, s.is_table, s.text) for s in doc.sections] == [
        (("号卡业务指南",), False, "本指南说明补卡和挂失。"),
        (("号卡业务指南", "一、补卡"), False, "补卡前请准备：\n- 身份证原件\n- 授权委托书"),
        (("号卡业务指南", "一、补卡"), True, "渠道 | 费用\n营业厅 | 10元\nApp | 20元"),
        (("号卡业务指南", "一、补卡"), False, "表格之后的文字。"),
        (
            ("号卡业务指南", "一、补卡", "1. 办理流程"),
            False,
            "1. 发送短信查询资格\n2. 到营业厅办理",
        ),
        (("号卡业务指南", "二、挂失"), False, "挂失免费。"),
    ]


def test_merged_cells_are_not_repeated() -> None:
    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).merge(table.cell(0, 1)).text = "合并标题"
    table.cell(0, 2).text = "说明"
    for cell, value in zip(table.rows[1].cells, ["a", "b", "c"], strict=True):
        cell.text = value
    doc = load(docx_bytes(document), "t.docx")
    assert doc.sections[0].text == "合并标题 | 说明\na | b | c"


def test_not_a_zip() -> None:
    with pytest.raises(ParseError, match="DOCX is not a valid zip file"):
        load(b"this is plain text renamed to .docx", "fake.docx")


def test_legacy_doc_renamed_to_docx() -> None:
    with pytest.raises(ParseError, match=r"legacy \.doc"):
        load(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "old.docx")


def test_zip_without_word_document() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ParseError, match="not a Word document"):
        load(out.getvalue(), "x.docx")


def test_zip_bomb_over_the_size_limit() -> None:
    # 300 MB of zeros, about 1.3 MB on disk: over the 200 MB default limit.
    data = zip_with_zeros("word/document.xml", 300 * 1024 * 1024)
    assert len(data) < 5 * 1024 * 1024
    with pytest.raises(ParseError, match="decompressed size exceeds limit"):
        load(data, "bomb.docx")


def test_size_limit_is_configurable() -> None:
    with pytest.raises(ParseError, match="decompressed size exceeds limit"):
        load(_manual(), "manual.docx", max_decompressed_bytes=1000)


def test_absurd_compression_ratio_under_the_size_limit() -> None:
    data = zip_with_zeros("word/document.xml", 8 * 1024 * 1024)
    with pytest.raises(ParseError, match="compression ratio"):
        load(data, "bomb.docx")
