"""Behaviour per intent class, on wordings from other industries (an insurer, an airline, a
gym, a utility, a phone shop): none of them is in an eval set, and the router has never been
fitted on them. Each class is the kind of error that hurts most when it generalises badly.
"""

from __future__ import annotations

import pytest

from app.routing import Router
from tests.routing.conftest import BOOKSHOP


def _route(router: Router, message: str) -> tuple[str, str]:
    decision = router.route(message, kb_key=BOOKSHOP)
    return decision.route, decision.intent


@pytest.mark.parametrize(
    ("message", "intent"),
    [
        # Legal and regulator threats, without the word "human".
        ("保险理赔拖了三个月，你们再拖我们就法庭上见", "handoff.legal"),
        ("我已经把材料寄给银保监会举报你们了", "handoff.legal"),
        ("Refund me by Friday or I'm reporting you to the FTC", "handoff.legal"),
        ("Honestly, see you in court.", "handoff.legal"),
        # Fraud or a scam in progress.
        ("有人正在用我的账号下单，一直在扣款，快帮我停掉", "handoff.fraud"),
        ("对方冒充警察，让我把存款转到安全账户", "handoff.fraud"),
        ("someone is draining my wallet balance as we speak!!", "handoff.fraud"),
        ("I think I'm being scammed, the caller wants my one-time code", "handoff.fraud"),
        # Abuse at the service.
        ("你们这群骗子公司，垃圾！", "handoff.abuse"),
        ("this is fucking ridiculous", "handoff.abuse"),
        # A person asked for, without the usual words.
        ("请让你们的售后主管明天给我回个电话", "handoff.human"),
        ("Escalate this to your supervisor, today.", "handoff.human"),
        ("我要求你们彻查这名快递员，给我一个说法", "handoff.complaint"),
        (
            "this is the worst service ever, absolutely useless, get me someone competent",
            "handoff.human",
        ),
        ("please find me somebody who actually knows what they're doing", "handoff.human"),
    ],
)
def test_escalations_reach_a_person(router: Router, message: str, intent: str) -> None:
    assert _route(router, message) == ("handoff", intent)


@pytest.mark.parametrize(
    "message",
    [
        # Asking how to escalate is information, not a threat.
        "如果对理赔结果不满意，可以向哪个监管部门投诉吗？",
        "How can I complain to the regulator about a delayed refund?",
        # A fraud that is over is a question of procedure.
        "上周我的会员卡被人盗刷了，现在该怎么处理",
        "My phone was stolen yesterday, what should I do about my account?",
        # A person named as a thing to find is not a request for one.
        "can you find me someone who sells spare parts nearby",
    ],
)
def test_questions_about_escalation_are_not_escalations(router: Router, message: str) -> None:
    assert _route(router, message)[0] != "handoff"


@pytest.mark.parametrize(
    ("message", "intent"),
    [
        ("感谢您的耐心解答～", "smalltalk.thanks"),
        ("that's everything sorted, you've been really helpful", "smalltalk.thanks"),
        ("行，那就先这么着吧，改天再聊", "smalltalk.goodbye"),
        ("ok gotta go, talk soon", "smalltalk.goodbye"),
        ("这个机器人还挺靠谱的，给你点赞", "smalltalk.compliment"),
        ("nice one, good bot", "smalltalk.compliment"),
        ("太棒了，你们服务真好", "smalltalk.compliment"),
        ("回复很及时", "smalltalk.compliment"),
        ("ok thx a bunch!", "smalltalk.thanks"),
        ("现在和我说话的是真人吗？", "smalltalk.identity"),
        ("Am I texting with a real human right now?", "smalltalk.identity"),
        ("小姐姐在吗～", "smalltalk.greeting"),
        ("hey hey, anybody around?", "smalltalk.greeting"),
    ],
)
def test_smalltalk_in_new_wordings(router: Router, message: str, intent: str) -> None:
    assert _route(router, message) == ("smalltalk", intent)


@pytest.mark.parametrize(
    "message",
    [
        # The customer's own records: status, amount or date of one instance of theirs.
        "我的订单是多少钱？",
        "我这个月的账单多少钱",
        "帮我看下我上次买的那套书发货了没有",
        "我的退款到账了吗",
        "Has my order been shipped yet?",
        "Where did my refund go?",
        "How many points do I have on my account?",
        "When does my membership expire?",
        "我的会员怎么突然过期了",
        "上周申请的退货处理到哪一步了",
    ],
)
def test_account_questions_never_get_a_canned_answer(router: Router, message: str) -> None:
    # The bookshop FAQ has "how long do refunds take", "when do you ship", "how do points
    # work": close in meaning, but only a lookup answers these.
    assert _route(router, message) == ("llm", "llm.account")


@pytest.mark.parametrize(
    "message",
    [
        # First person, but a procedure that is the same for every customer.
        "在哪里可以查看我的订单物流？",
        "how can I check my points balance myself?",
    ],
)
def test_how_to_look_something_up_is_not_a_lookup(router: Router, message: str) -> None:
    assert _route(router, message)[1] != "llm.account"


def test_a_greeting_after_an_assistant_question_is_still_a_greeting(router: Router) -> None:
    history = [("user", "能开发票吗"), ("assistant", "可以的，需要我告诉您步骤吗？")]
    decision = router.route("你好", history=history, kb_key=BOOKSHOP)
    assert (decision.route, decision.intent) == ("smalltalk", "smalltalk.greeting")
