"""Splitter: sections stay apart, sentences stay whole, overlap, tables, FAQ shape, speed."""

from __future__ import annotations

import itertools
import re
import time

import pytest

from app.core.lang import detect_lang
from ingestion.loaders import FaqPair, ParsedDocument, Section
from ingestion.splitter import sentences, split
from ingestion.tokens import count_tokens
from knowledge.chunks import ChunkDraft

ZH_SENTENCES = [f"第{i}条规定用户在办理第{i}项业务时需要携带有效证件原件。" for i in range(1, 31)]
EN_SENTENCES = [
    f"Rule {i} costs 3.5 GB per day, e.g. when roaming in zone {i % 4 + 1}." for i in range(1, 31)
]


def _doc(*sections: Section, faq: list[FaqPair] | None = None) -> ParsedDocument:
    return ParsedDocument(sections=list(sections), faq_pairs=faq or [], title=None)


def _chars(chunks: list[ChunkDraft]) -> int:
    return sum(len(chunk.text) for chunk in chunks)


def _body(text: str, path: tuple[str, ...]) -> str:
    prefix = " > ".join(path) + "\n"
    assert text.startswith(prefix)
    return text[len(prefix) :]


def test_token_estimate() -> None:
    assert count_tokens("") == 0
    assert count_tokens("退款申请") == 4
    assert count_tokens("refund request") == 3  # ceil(2 * 1.3)
    assert count_tokens("123456") == 2
    assert count_tokens("你好，world!") == 2 + 1 + 2 + 1


def test_sentences_chinese_and_english() -> None:
    assert sentences("先充值。再使用！可以吗？可以；好的") == [
        "先充值。",
        "再使用！",
        "可以吗？",
        "可以；",
        "好的",
    ]
    assert sentences("“请稍候。”然后重试。") == ["“请稍候。”", "然后重试。"]
    text = "Data costs 3.5 GB a day, e.g. in Japan. Dr. Li agrees! Ok? Yes.\n1. First step\n2. Done"
    assert sentences(text) == [
        "Data costs 3.5 GB a day, e.g. in Japan. ",
        "Dr. Li agrees! ",
        "Ok? ",
        "Yes.\n",
        "1. First step\n",
        "2. Done",
    ]
    assert sentences("Visit https://x.cn/a?b=1 today.") == ["Visit https://x.cn/a?b=1 today."]


def test_chunks_never_cross_headings() -> None:
    first = Section(("Guide", "A"), "Alpha only.")
    second = Section(("Guide", "B"), "Beta only.")
    chunks = split(_doc(first, second))
    assert [c.heading_path for c in chunks] == [("Guide", "A"), ("Guide", "B")]
    assert chunks[0].text == "Guide > A\nAlpha only."
    assert chunks[0].content == chunks[0].text
    assert "Beta" not in chunks[0].text and "Alpha" not in chunks[1].text


def test_chinese_chunks_end_on_sentence_boundaries_and_overlap() -> None:
    path = ("规则",)
    chunks = split(_doc(Section(path, "".join(ZH_SENTENCES))), chunk_tokens=80, overlap_tokens=30)
    assert len(chunks) > 3
    bodies = [_body(c.text, path) for c in chunks]
    for body in bodies:
        assert count_tokens(body) <= 80
        assert body.endswith("。") and body.startswith("第")
    for previous, current in itertools.pairwise(bodies):
        last_sentence = re.findall(r"第\d+条[^。]*。", previous)[-1]
        assert current.startswith(last_sentence)
        assert count_tokens(last_sentence) <= 30
    # Nothing lost: every sentence appears in some chunk.
    assert all(any(s in body for body in bodies) for s in ZH_SENTENCES)
    assert {c.lang for c in chunks} == {"zh"}


def test_english_decimals_and_abbreviations_are_not_split() -> None:
    path = ("Roaming",)
    chunks = split(_doc(Section(path, " ".join(EN_SENTENCES))), chunk_tokens=60, overlap_tokens=0)
    bodies = [_body(c.text, path) for c in chunks]
    assert len(bodies) > 3
    for body in bodies:
        assert body.startswith("Rule ")
        assert re.search(r"in zone \d\.$", body), body
    assert "".join(b + " " for b in bodies).strip() == " ".join(EN_SENTENCES)
    assert {c.lang for c in chunks} == {"en"}


def test_overlap_is_bounded_and_can_be_switched_off() -> None:
    text = " ".join(EN_SENTENCES)
    with_overlap = split(_doc(Section((), text)), chunk_tokens=60, overlap_tokens=25)
    without = split(_doc(Section((), text)), chunk_tokens=60, overlap_tokens=0)
    # Without overlap the chunks are the text minus the spaces where it was cut.
    assert _chars(with_overlap) > _chars(without) == len(text) - (len(without) - 1)
    for previous, current in itertools.pairwise(with_overlap):
        shared = next(
            s for s in sentences(previous.text)[::-1] if current.text.startswith(s.strip())
        )
        assert count_tokens(shared) <= 25


def test_over_long_sentence_is_hard_split() -> None:
    text = "无标点的超长句子" * 100
    chunks = split(_doc(Section((), text)), chunk_tokens=100, overlap_tokens=10)
    assert all(count_tokens(c.text) <= 100 for c in chunks)
    assert "".join(c.text for c in chunks) == text
    words = " ".join(f"word{i}" for i in range(400))
    english = split(_doc(Section((), words)), chunk_tokens=100, overlap_tokens=0)
    assert all(count_tokens(c.text) <= 100 for c in english)
    assert " ".join(c.text for c in english).split() == words.split()


def test_lines_are_preferred_as_chunk_ends() -> None:
    items = [f"- 第{i}项：办理业务需要本人到场，并携带身份证件原件。" for i in range(1, 9)]
    chunks = split(_doc(Section(("清单",), "\n".join(items))), chunk_tokens=100, overlap_tokens=0)
    assert len(chunks) > 1
    for chunk in chunks:
        assert all(line in items for line in _body(chunk.text, ("清单",)).split("\n"))


def test_table_kept_whole_up_to_twice_the_budget() -> None:
    rows = ["套餐 | 月费 | 流量"] + [f"风享{i} | {i}元 | {i}GB" for i in range(10, 25)]
    table = "\n".join(rows)
    assert 60 < count_tokens(table) <= 240
    chunks = split(_doc(Section(("资费",), table, is_table=True)), chunk_tokens=120)
    assert len(chunks) == 1
    assert chunks[0].text == "资费\n" + table


def test_big_table_split_by_rows_with_header_repeated() -> None:
    header = "Plan | Price | Data"
    rows = [f"Plan {i} | {i} yuan | {i} GB" for i in range(100)]
    chunks = split(
        _doc(Section(("Plans",), "\n".join([header, *rows]), is_table=True)), chunk_tokens=60
    )
    assert len(chunks) > 2
    seen: list[str] = []
    for chunk in chunks:
        lines = _body(chunk.text, ("Plans",)).split("\n")
        assert lines[0] == header
        assert count_tokens("\n".join(lines)) <= 60
        seen.extend(lines[1:])
    assert seen == rows


def test_faq_chunk_shape() -> None:
    pair = FaqPair("怎么查话费？", "发送CXYE到10077。", ("查余额", "话费在哪看"))
    english = FaqPair("How do I port out?", "Send SQM to 10077.")
    chunks = split(_doc(Section(("Doc",), "Body."), faq=[pair, english]))
    faq, faq_en = chunks[1], chunks[2]
    assert faq.kind == "faq" and faq.heading_path == ("FAQ",)
    assert faq.text == "怎么查话费？\n查余额\n话费在哪看"
    assert faq.content == "发送CXYE到10077。"
    assert faq.question == "怎么查话费？"
    assert faq.lang == "zh" and faq_en.lang == "en"
    assert faq_en.text == "How do I port out?" and faq.page is None
    assert chunks[0].kind == "doc" and chunks[0].question == ""


def test_page_and_heading_path_travel_with_the_chunk() -> None:
    chunk = split(_doc(Section(("Guide", "Zones", "Zone 1"), "Hong Kong.", page=3)))[0]
    assert chunk.page == 3
    assert chunk.heading_path == ("Guide", "Zones", "Zone 1")
    assert chunk.text.split("\n")[0] == "Guide > Zones > Zone 1"


def test_no_heading_means_no_heading_line() -> None:
    assert split(_doc(Section((), "Just text.")))[0].text == "Just text."


def test_language_threshold() -> None:
    assert detect_lang("The fee is 5元 per GB for all plans") == "en"
    assert detect_lang("流量费 is 5 yuan") == "zh"


def test_invalid_budget() -> None:
    with pytest.raises(ValueError, match="overlap_tokens"):
        split(_doc(), chunk_tokens=50, overlap_tokens=50)


def test_two_thousand_chunks_in_well_under_a_second() -> None:
    zh = "".join(ZH_SENTENCES)
    en = " ".join(EN_SENTENCES)
    sections = [Section(("Doc", f"S{i}"), zh if i % 2 else en) for i in range(700)]
    started = time.perf_counter()
    chunks = split(_doc(*sections))
    elapsed = time.perf_counter() - started
    assert len(chunks) >= 2000
    assert elapsed < 1.0, f"{len(chunks)} chunks took {elapsed:.2f}s"
