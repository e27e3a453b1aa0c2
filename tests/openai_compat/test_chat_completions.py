"""The support agent as the model `kefu`, driven by the official `openai` package against a
real server (no LLM configured: rules, FAQ and extractive answers)."""

from __future__ import annotations

import uuid

import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from sqlalchemy import func, select

from app.conversation import service as conversation_service
from app.conversation.models import Conversation, ConversationStatus, Message, TurnTrace
from tests.openai_compat.conftest import Kefu, new_key


@pytest.fixture(scope="module")
def sdk(kefu: Kefu) -> OpenAI:
    return OpenAI(base_url=kefu.base_url, api_key=kefu.api_key, max_retries=0)


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


def conversations_of(kefu: Kefu, user: str, key_id: int | None = None) -> list[Conversation]:
    stored = f"key:{key_id or kefu.key_id}:user:{user}"
    with kefu.sessions() as s:
        return list(
            s.scalars(
                select(Conversation).where(
                    Conversation.channel == "openai", Conversation.external_user_id == stored
                )
            )
        )


def message_count(kefu: Kefu, conversation_id: str) -> int:
    with kefu.sessions() as s:
        count = s.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.conversation_id == conversation_id)
        )
    return int(count or 0)


def test_faq_answer_with_citations(sdk: OpenAI) -> None:
    completion = sdk.chat.completions.create(
        model="kefu",
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "when will my parcel get here?"},
        ],
        temperature=0.2,  # accepted and ignored, like max_tokens below
        max_tokens=5,
    )
    assert completion.id.startswith("chatcmpl-") and completion.object == "chat.completion"
    assert completion.model == "kefu" and completion.created > 0
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.finish_reason == "stop"
    assert choice.message.content == "Orders arrive in 3-5 working days."
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    extra = completion.model_extra or {}
    assert [c["source"] for c in extra["citations"]] == ["faq.csv"]
    assert extra["citations"][0]["kind"] == "faq"
    assert extra["kefu"]["route"] == "faq" and extra["kefu"]["handoff"] is None
    assert len(extra["kefu"]["conversation_id"]) == 32


def test_stream_deltas_and_citations(sdk: OpenAI) -> None:
    chunks = list(
        sdk.chat.completions.create(
            model="kefu",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "积分抵扣有没有上限？最多能抵订单金额的多少？"}
                    ],
                }
            ],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "30%" in text
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(final) == 1 and final[0].choices[0].finish_reason == "stop"
    extra = final[0].model_extra or {}
    assert extra["citations"][0]["source"] == "members.md"
    assert extra["kefu"]["route"] == "llm" and extra["kefu"]["message_id"]
    usage = chunks[-1]
    assert usage.choices == [] and usage.usage is not None
    assert usage.usage.prompt_tokens > 0 and usage.usage.total_tokens > usage.usage.prompt_tokens


def test_user_continues_the_conversation(sdk: OpenAI, kefu: Kefu) -> None:
    user = new_user()
    first = sdk.chat.completions.create(
        model="kefu",
        user=user,
        messages=[{"role": "user", "content": "积分可以怎么用？能抵现金吗"}],
    )
    # Clients resend the history; kefu keeps its own and only reads the last user message.
    second = sdk.chat.completions.create(
        model="kefu",
        user=user,
        messages=[
            {"role": "user", "content": "积分可以怎么用？能抵现金吗"},
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": "怎么开发票"},
        ],
    )
    conversation_id = (first.model_extra or {})["kefu"]["conversation_id"]
    assert (second.model_extra or {})["kefu"]["conversation_id"] == conversation_id
    assert [c.id for c in conversations_of(kefu, user)] == [conversation_id]
    with kefu.sessions() as s:
        rows = s.execute(
            select(Message.role, Message.content)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.id)
        ).all()
    assert [r.value for r, _ in rows] == ["user", "assistant", "user", "assistant"]
    assert rows[2][1] == "怎么开发票"
    assert (
        rows[3][1]
        == second.choices[0].message.content
        == "在订单详情页点击“申请发票”即可开具电子发票。"
    )


def test_conversation_id_in_extra_body(sdk: OpenAI, kefu: Kefu) -> None:
    first = sdk.chat.completions.create(
        model="kefu", messages=[{"role": "user", "content": "hello there"}]
    )
    conversation_id = (first.model_extra or {})["kefu"]["conversation_id"]
    again = sdk.chat.completions.create(
        model="kefu",
        messages=[{"role": "user", "content": "怎么开发票"}],
        extra_body={"conversation_id": conversation_id},
    )
    assert (again.model_extra or {})["kefu"]["conversation_id"] == conversation_id
    assert message_count(kefu, conversation_id) == 4

    for stream in (False, True):
        with pytest.raises(openai.NotFoundError) as err:
            sdk.chat.completions.create(
                model="kefu",
                messages=[{"role": "user", "content": "hi"}],
                extra_body={"conversation_id": "0" * 32},
                stream=stream,
            )
        assert err.value.param == "conversation_id"
    assert message_count(kefu, conversation_id) == 4

    # Another channel's conversation is not answered here.
    with kefu.sessions.begin() as s:
        web = conversation_service.create(
            db_session=s, channel="web", external_user_id=None, customer_id=None
        )
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(
            model="kefu",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"conversation_id": web.id},
        )
    assert message_count(kefu, web.id) == 0


def test_earlier_messages_seed_a_new_conversation(sdk: OpenAI, kefu: Kefu) -> None:
    user = new_user()
    completion = sdk.chat.completions.create(
        model="kefu",
        user=user,
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "积分可以怎么用？能抵现金吗"},
            {"role": "assistant", "content": "积分不能兑换现金，可以在结算时抵扣。"},
            {"role": "user", "content": "那最多能抵多少？"},
        ],
    )
    extra = completion.model_extra or {}
    assert extra["citations"] and extra["citations"][0]["source"] == "members.md"
    (conv,) = conversations_of(kefu, user)
    with kefu.sessions() as s:
        contents = s.scalars(
            select(Message.content).where(Message.conversation_id == conv.id).order_by(Message.id)
        ).all()
        # The follow-up was searched in the context of the seeded turns.
        query = s.scalar(select(TurnTrace.search_query).where(TurnTrace.conversation_id == conv.id))
    assert query and "积分" in query and query.endswith("那最多能抵多少？")
    assert contents[:3] == [
        "积分可以怎么用？能抵现金吗",
        "积分不能兑换现金，可以在结算时抵扣。",
        "那最多能抵多少？",
    ]
    assert len(contents) == 4


def test_handoff_then_a_person_holds_the_conversation(sdk: OpenAI, kefu: Kefu) -> None:
    user = new_user()
    first = sdk.chat.completions.create(
        model="kefu", user=user, messages=[{"role": "user", "content": "转人工"}]
    )
    extra = first.model_extra or {}
    assert extra["kefu"]["route"] == "handoff" and extra["kefu"]["handoff"]["message"]
    assert first.choices[0].message.content == extra["kefu"]["handoff"]["message"]

    later = list(
        sdk.chat.completions.create(
            model="kefu", user=user, messages=[{"role": "user", "content": "还在吗"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in later if c.choices) == ""
    assert (later[-1].model_extra or {})["kefu"]["route"] == "human"
    (conv,) = conversations_of(kefu, user)
    assert conv.status == ConversationStatus.AWAITING_HUMAN


def test_wrong_model(sdk: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert err.value.code == "model_not_found" and err.value.type == "invalid_request_error"
    assert "gpt-4o" in err.value.message
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("gpt-4o")


@pytest.mark.parametrize("stream", [False, True])
def test_bad_messages_store_nothing(sdk: OpenAI, kefu: Kefu, stream: bool) -> None:
    user = new_user()
    limit = kefu.runtime.settings.limits.max_message_chars
    history = [
        {"role": "user", "content": "积分可以怎么用？"},
        {"role": "assistant", "content": "可以抵扣。"},
    ]
    with pytest.raises(openai.UnprocessableEntityError) as err:
        sdk.chat.completions.create(
            model="kefu",
            user=user,
            messages=[*history, {"role": "user", "content": "x" * (limit + 1)}],  # type: ignore[list-item]
            stream=stream,
        )
    assert str(limit) in err.value.message and err.value.type == "invalid_request_error"
    with pytest.raises(openai.UnprocessableEntityError):
        sdk.chat.completions.create(
            model="kefu", user=user, messages=[{"role": "assistant", "content": "hi"}]
        )
    with pytest.raises(openai.UnprocessableEntityError) as err:
        sdk.chat.completions.create(model="kefu", user=user, messages=[])
    assert err.value.code == "validation_error" and err.value.param == "messages"
    assert conversations_of(kefu, user) == []


def test_wrong_key(kefu: Kefu) -> None:
    bad = OpenAI(base_url=kefu.base_url, api_key="kefu_not-a-real-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        bad.chat.completions.create(model="kefu", messages=[{"role": "user", "content": "hi"}])
    assert err.value.type == "authentication_error" and err.value.code == "unauthorized"
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_models(sdk: OpenAI) -> None:
    models = sdk.models.list()
    assert [(m.id, m.object, m.owned_by) for m in models.data] == [("kefu", "model", "kefu")]
    assert models.data[0].created > 0
    assert sdk.models.retrieve("kefu").id == "kefu"


async def test_async_client(kefu: Kefu) -> None:
    async with AsyncOpenAI(base_url=kefu.base_url, api_key=kefu.api_key, max_retries=0) as aio:
        user = new_user()
        completion = await aio.chat.completions.create(
            model="kefu", user=user, messages=[{"role": "user", "content": "能开发票吗"}]
        )
        assert (
            completion.choices[0].message.content == "在订单详情页点击“申请发票”即可开具电子发票。"
        )
        stream = await aio.chat.completions.create(
            model="kefu",
            user=user,
            messages=[{"role": "user", "content": "How long does delivery take?"}],
            stream=True,
        )
        parts = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in parts if c.choices)
    assert text == "Orders arrive in 3-5 working days."
    assert (parts[-1].model_extra or {})["citations"][0]["source"] == "faq.csv"
    (conv,) = conversations_of(kefu, user)
    assert message_count(kefu, conv.id) == 4


def test_a_long_user_id_still_continues(sdk: OpenAI, kefu: Kefu) -> None:
    user = "tenant-42/" + "x" * 300  # longer than kefu stores: kept as a digest
    ids = {
        (
            sdk.chat.completions.create(
                model="kefu", user=user, messages=[{"role": "user", "content": text}]
            ).model_extra
            or {}
        )["kefu"]["conversation_id"]
        for text in ("hello there", "怎么开发票")
    }
    assert len(ids) == 1
    (conversation_id,) = ids
    assert message_count(kefu, conversation_id) == 4
    with kefu.sessions() as s:
        conv = s.get(Conversation, conversation_id)
    assert conv is not None and conv.external_user_id and len(conv.external_user_id) <= 128


def test_users_and_conversations_belong_to_the_key(sdk: OpenAI, kefu: Kefu) -> None:
    """Another key sending the same `user`, or a conversation id it learnt, reaches nothing of
    this key's: a leaked id or a guessed customer number is not a way in."""
    user = new_user()
    mine = sdk.chat.completions.create(
        model="kefu", user=user, messages=[{"role": "user", "content": "怎么开发票"}]
    )
    conversation_id = (mine.model_extra or {})["kefu"]["conversation_id"]
    anonymous = sdk.chat.completions.create(
        model="kefu", messages=[{"role": "user", "content": "hello there"}]
    )
    anonymous_id = (anonymous.model_extra or {})["kefu"]["conversation_id"]

    secret, other_id = new_key(kefu.runtime)
    other = OpenAI(base_url=kefu.base_url, api_key=secret, max_retries=0)
    theirs = other.chat.completions.create(
        model="kefu", user=user, messages=[{"role": "user", "content": "我刚才问了什么？"}]
    )
    assert (theirs.model_extra or {})["kefu"]["conversation_id"] != conversation_id
    assert [c.id for c in conversations_of(kefu, user)] == [conversation_id]
    assert len(conversations_of(kefu, user, key_id=other_id)) == 1
    for leaked in (conversation_id, anonymous_id):
        for stream in (False, True):
            with pytest.raises(openai.NotFoundError) as err:
                other.chat.completions.create(
                    model="kefu",
                    messages=[{"role": "user", "content": "我的账单是多少"}],
                    extra_body={"conversation_id": leaked},
                    stream=stream,
                )
            assert err.value.param == "conversation_id"
        assert message_count(kefu, leaked) == 2
    # The key that started them continues both.
    again = sdk.chat.completions.create(
        model="kefu",
        messages=[{"role": "user", "content": "怎么开发票"}],
        extra_body={"conversation_id": anonymous_id},
    )
    assert (again.model_extra or {})["kefu"]["conversation_id"] == anonymous_id


def test_widget_keys_are_refused(kefu: Kefu) -> None:
    # A key with allowed origins is a widget's: its secret is in every page that embeds it.
    secret, widget_id = new_key(kefu.runtime, allowed_origins=["https://shop.example"])
    widget = OpenAI(base_url=kefu.base_url, api_key=secret, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as err:
        widget.chat.completions.create(
            model="kefu", user="customer-1234", messages=[{"role": "user", "content": "hi"}]
        )
    assert err.value.code == "publishable_key" and err.value.type == "permission_error"
    with pytest.raises(openai.PermissionDeniedError):
        widget.models.list()
    assert conversations_of(kefu, "customer-1234", key_id=widget_id) == []
