from __future__ import annotations

import pytest

from app.routing import text as textlib


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("👍", True),
        ("🙏🙏🙏", True),
        ("👋 !", True),
        ("👨‍👩‍👧", True),  # a ZWJ sequence is one pictograph
        ("👍🏽", True),  # so is one with a skin tone
        ("ok 👍", False),
        ("好的👍", False),
        ("", False),
        ("!!!", False),
    ],
)
def test_is_emoji_only(message: str, expected: bool) -> None:
    assert textlib.is_emoji_only(message) is expected


@pytest.mark.parametrize(
    ("message", "lang"),
    [
        ("怎么退货", "zh"),
        ("我的iPhone 15 Pro Max roaming data plan怎么开通", "zh"),
        ("How do I return a book?", "en"),
        ("Can I pay with 支付宝 when I order from abroad?", "en"),
    ],
)
def test_detect_lang(message: str, lang: str) -> None:
    assert textlib.detect_lang(message) == lang


def test_normalise_folds_full_width_forms_and_spaces() -> None:
    assert textlib.normalise("  ＡＢＣ１２３　你好  ") == "ABC123 你好"


def test_tokens_drop_punctuation_and_stopwords() -> None:
    assert textlib.tokens("运费怎么算？", {"怎么"}) == ["运费", "算"]
    assert textlib.tokens("How do I track MY order?", {"how", "do", "i", "my"}) == [
        "track",
        "order",
    ]


def test_numbers_and_questions() -> None:
    assert textlib.numbers("买了3本书一共65.5元") == ["3", "65.5"]
    assert textlib.question_count("能退吗？运费谁出？") == 2
    assert textlib.question_count("能退吗") == 1


def test_visible_length_counts_characters_and_words_alike() -> None:
    assert textlib.visible_length("你好") == 2
    assert textlib.visible_length("hello there") == 2


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # Identifiers, phone numbers and year-months name things: no sum to do.
        ("我10月的订单YF202611200137退款到哪了", 1),
        ("手机号13800010001，3号扣了50元", 2),
        ("2026-10账单为什么是128元？上个月才64元", 2),
        ("order B12 and B13", 0),
        # Amounts with units, durations and days of the month stay (pro-rating is arithmetic).
        ("6月11号新办的风享128，第一个月月费怎么算？", 3),
        ("Going to Tokyo for 4 days on Fengxiang 188", 2),
    ],
)
def test_quantities_leave_out_identifiers(message: str, expected: int) -> None:
    assert textlib.distinct_quantities(message) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # One amount restated in another notation is one amount, not a sum to work out.
        ("if I pay the minimum on a $20,000 balance, is interest on the full 20k?", 1),
        ("借了3万，现在要还30000吗", 1),
        ("1.5万和15000一样吗", 1),
        # Different amounts stay different; a decimal comma is not a thousands separator.
        ("我的套餐每月30GB，用了35GB", 2),
        ("2w or 2k?", 2),
        ("rate 1,5 or 15?", 2),
    ],
)
def test_distinct_quantities_count_each_amount_once(message: str, expected: int) -> None:
    assert textlib.distinct_quantities(message) == expected


def test_one_language_detector_for_routing_retrieval_and_chunks() -> None:
    # Three detectors used to disagree on mixed text: the router said zh, retrieval en.
    from app.core import lang
    from app.retrieval import service as retrieval_service
    from ingestion import splitter

    assert textlib.detect_lang is lang.detect_lang
    assert splitter.detect_lang is lang.detect_lang
    assert retrieval_service.detect_lang is lang.detect_lang
    assert lang.detect_lang("我的iPhone 15 Pro Max roaming data plan怎么开通") == "zh"
