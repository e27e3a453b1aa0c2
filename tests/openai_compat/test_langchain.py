"""kefu as LangChain apps use an OpenAI-protocol model: langchain-openai's ``ChatOpenAI``
(which builds its requests with the openai package, adding its own parameters) against a real
server, with history as LangChain messages, streaming and async."""

from __future__ import annotations

import uuid

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from tests.openai_compat.conftest import Kefu

DELIVERY = "Orders arrive in 3-5 working days."
INVOICE = "在订单详情页点击“申请发票”即可开具电子发票。"


def chat(kefu: Kefu, **extra: object) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=kefu.base_url,
        api_key=kefu.api_key,  # type: ignore[arg-type]
        model="kefu",
        max_retries=0,
        temperature=0.2,  # LangChain apps set sampling; kefu accepts and ignores it
        model_kwargs={"user": f"lc-{uuid.uuid4().hex[:8]}"},
        **extra,  # type: ignore[arg-type]
    )


def test_invoke_answers_with_the_faq(kefu: Kefu) -> None:
    reply = chat(kefu).invoke(
        [
            SystemMessage("You are a helpful assistant."),
            HumanMessage("How long does delivery take?"),
        ]
    )
    assert isinstance(reply, AIMessage) and reply.content == DELIVERY
    assert reply.response_metadata["model_name"] == "kefu"
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] > 0


def test_history_as_langchain_messages(kefu: Kefu) -> None:
    model = chat(kefu)
    first = model.invoke([HumanMessage("能开发票吗")])
    assert first.content == INVOICE
    follow_up = model.invoke([HumanMessage("能开发票吗"), first, HumanMessage("谢谢")])
    assert isinstance(follow_up.content, str) and follow_up.content
    assert follow_up.content != INVOICE


def test_stream_yields_the_answer_in_chunks(kefu: Kefu) -> None:
    chunks = list(chat(kefu, streaming=True).stream("How long does delivery take?"))
    assert len(chunks) >= 1
    assert "".join(str(c.content) for c in chunks) == DELIVERY


async def test_async_invoke(kefu: Kefu) -> None:
    reply = await chat(kefu).ainvoke("能开发票吗")
    assert reply.content == INVOICE
