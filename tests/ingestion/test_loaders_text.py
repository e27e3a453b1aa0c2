"""Markdown, plain text and FAQ CSV loaders, and dispatch by extension."""

from __future__ import annotations

import pytest

from ingestion.loaders import (
    SUPPORTED_EXTENSIONS,
    FaqPair,
    ParseError,
    UnsupportedFormat,
    load,
)

MARKDOWN = """---
title: front matter must vanish
tags: [a, b]
---
# 退款政策

本政策适用于所有**线上订单**，详见[帮助中心](https://example.com/help)。

## 1. 退款条件

- 商品未拆封；
- 在签收后7天内申请。

| 商品类型 | 退款时限 |
|---|---|
| 实物商品 | 7天 |
| 虚拟商品 | 不支持 |

表格之后的说明文字。

```
# a comment inside code, not a heading
```

Delivery
--------

Parcels ship within 2 days.
"""


def test_markdown_headings_tables_and_front_matter() -> None:
    doc = load(MARKDOWN.encode(), "policy.MD")
    assert doc.title == "退款政策"
    texts = "\n".join(section.text for section in doc.sections)
    assert "front matter" not in texts
    assert "**" not in texts and "https://example.com" not in texts
    assert "本政策适用于所有线上订单，详见帮助中心。" in texts

    by_path = [(section.heading_path, section.is_table, section.text) for section in doc.sections]
    assert by_path[0] == (("退款政策",), False, "本政策适用于所有线上订单，详见帮助中心。")
    assert by_path[1] == (
        ("退款政策", "1. 退款条件"),
        False,
        "- 商品未拆封；\n- 在签收后7天内申请。",
    )
    assert by_path[2] == (
        ("退款政策", "1. 退款条件"),
        True,
        "商品类型 | 退款时限\n实物商品 | 7天\n虚拟商品 | 不支持",
    )
    assert by_path[3][:2] == (("退款政策", "1. 退款条件"), False)
    assert "表格之后的说明文字。" in by_path[3][2]
    assert "# a comment inside code, not a heading" in by_path[3][2]
    # A setext "----" underline is an h2, replacing "1. 退款条件" at the same level.
    assert by_path[4] == (("退款政策", "Delivery"), False, "Parcels ship within 2 days.")


def test_markdown_nested_list_keeps_its_nesting() -> None:
    doc = load(b"# T\n\n- top\n  - nested item\n    wrapped\n- next\n", "a.md")
    assert doc.sections[0].text == "- top\n  - nested item wrapped\n- next"


def test_markdown_soft_wrapped_paragraph_is_joined() -> None:
    text = "# T\n\nThis sentence wraps\nonto a second line.\n\n中文段落被\n硬换行了。\n"
    doc = load(text.encode(), "a.md")
    assert doc.sections[0].text == "This sentence wraps onto a second line.\n中文段落被硬换行了。"


def test_markdown_pipe_over_bare_rule_is_a_heading_not_a_table() -> None:
    doc = load(b"Plans | Prices\n---\n\nText.\n", "a.md")
    assert [(s.heading_path, s.is_table, s.text) for s in doc.sections] == [
        (("Plans | Prices",), False, "Text.")
    ]


PLAIN_CHINESE = """北风通信 发票指南
==================

一、发票类型
------------
1. 电子普通发票

   个人和单位均可申请，与纸质发票具有同等法律
   效力，可用于报销。

二、开票方式
------------
（一）后付费用户
  按月结账单开具发票。
"""


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-16"])
def test_plain_text_encodings_and_heading_conventions(encoding: str) -> None:
    data = PLAIN_CHINESE.encode(encoding)
    doc = load(data, "guide.txt")
    assert doc.title == "北风通信 发票指南"
    paths = [section.heading_path for section in doc.sections]
    assert paths == [
        ("北风通信 发票指南", "一、发票类型", "1. 电子普通发票"),
        ("北风通信 发票指南", "二、开票方式", "（一）后付费用户"),
    ]
    # The wrapped line joins without a space between the two CJK characters.
    assert doc.sections[0].text == "个人和单位均可申请，与纸质发票具有同等法律效力，可用于报销。"
    assert all("\ufeff" not in section.text for section in doc.sections)


def test_plain_text_numbered_list_is_not_taken_for_headings() -> None:
    text = "办理步骤：\n\n1. 打开App\n2. 点击缴费\n3. 输入金额\n\n完成后会收到短信。\n"
    doc = load(text.encode(), "steps.txt")
    assert [section.heading_path for section in doc.sections] == [()]
    assert (
        doc.sections[0].text
        == "办理步骤：\n1. 打开App\n2. 点击缴费\n3. 输入金额\n完成后会收到短信。"
    )


def test_plain_text_without_headings_keeps_paragraphs() -> None:
    text = "First paragraph line one\nline two.\n\nSecond paragraph."
    doc = load(text.encode(), "notes.txt")
    assert doc.title is None
    assert doc.sections[0].text == "First paragraph line one line two.\nSecond paragraph."


def test_csv_faq_with_alternative_questions() -> None:
    csv_text = (
        "question,answer,alt_questions,owner\n"
        '怎么查话费？,"发短信CXYE到10077, 或打开App。",查余额|话费余额在哪看| 查余额 ,ops\n'
        "\n"
        "没有答案的问题,,,ops\n"
        ",没有问题的答案,,ops\n"
        "What are your hours?,8:00-22:00 every day.,,ops\n"
    )
    doc = load(csv_text.encode("utf-8-sig"), "faq.csv")
    assert doc.sections == []
    assert doc.faq_pairs == [
        FaqPair("怎么查话费？", "发短信CXYE到10077, 或打开App。", ("查余额", "话费余额在哪看")),
        FaqPair("What are your hours?", "8:00-22:00 every day.", ()),
    ]


def test_csv_without_alt_column_in_gbk() -> None:
    doc = load("question,answer\n停机保号多少钱？,每月5元。\n".encode("gbk"), "faq.csv")
    assert doc.faq_pairs == [FaqPair("停机保号多少钱？", "每月5元。")]


def test_csv_without_header_names_what_it_found() -> None:
    with pytest.raises(ParseError, match=r"question,answer.*found: 怎么查话费？,发短信查询"):
        load("怎么查话费？,发短信查询\n".encode(), "faq.csv")


def test_csv_with_no_usable_row() -> None:
    with pytest.raises(ParseError, match="no row with both a question and an answer"):
        load(b"question,answer\nonly a question,\n", "faq.csv")


def test_unsupported_extension() -> None:
    with pytest.raises(UnsupportedFormat, match=r"\.xlsx"):
        load(b"whatever", "sheet.xlsx")
    assert isinstance(UnsupportedFormat("x"), ParseError)
    assert ".docx" in SUPPORTED_EXTENSIONS and ".htm" in SUPPORTED_EXTENSIONS


@pytest.mark.parametrize(
    ("data", "name"),
    [(b"", "a.md"), (b"   \n\n", "a.txt"), (b"<html><body><nav>x</nav></body></html>", "a.html")],
)
def test_empty_documents_are_refused(data: bytes, name: str) -> None:
    with pytest.raises(ParseError, match="document contains no text"):
        load(data, name)
