"""The query language and the standalone query built for a follow-up (pure)."""

from __future__ import annotations

from app.core.lang import detect_lang
from app.retrieval.query import MAX_REPLY_CHARS, contextual_query


def test_query_language() -> None:
    assert detect_lang("那国际的呢？") == "zh"
    assert detect_lang("我的iPhone 15 Pro Max roaming data plan怎么开通") == "zh"
    assert detect_lang("what about prepaid?") == "en"
    assert detect_lang("Do you accept Alipay (支付宝) for prepaid top-ups?") == "en"
    assert detect_lang("   ") == "zh"


def test_a_follow_up_carries_the_last_exchange() -> None:
    history = [
        ("user", "How do I turn on roaming?"),
        ("assistant", "Switch it on in the app."),
        ("user", "How much is domestic data?"),
        ("assistant", "5 yuan a GB."),
    ]
    query = contextual_query("what about prepaid?", history)
    assert query == "How much is domestic data?\n5 yuan a GB.\nwhat about prepaid?"


def test_no_history_standalone_or_no_user_turn_is_the_question_alone() -> None:
    assert contextual_query(" 那国际的呢？ ") == "那国际的呢？"
    history = [("user", "套餐多少钱"), ("assistant", "58元")]
    assert contextual_query("发票怎么开", history, standalone=True) == "发票怎么开"
    assert contextual_query("好的", [("assistant", "还有什么可以帮您？")]) == "好的"


def test_a_long_reply_is_clipped_and_a_missing_one_skipped() -> None:
    reply = "很长的回答" * 200
    query = contextual_query("那国际的呢？", [("user", "国内流量怎么收费"), ("assistant", reply)])
    user, clipped, question = query.split("\n")
    assert user == "国内流量怎么收费" and question == "那国际的呢？"
    assert len(clipped) == MAX_REPLY_CHARS
    assert contextual_query("那国际的呢？", [("user", "国内流量怎么收费")]) == (
        "国内流量怎么收费\n那国际的呢？"
    )
