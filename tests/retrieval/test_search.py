"""Search on the real model and Milvus Lite: across languages, and follow-ups through history."""

from __future__ import annotations

import pytest

from app.core.lang import detect_lang
from app.evaluation.service import stored_faqs
from app.retrieval import service
from app.retrieval.query import contextual_query
from tests.retrieval.conftest import Library


def _sources(indexed: Library, query: str, **params: object) -> list[str]:
    with indexed.runtime.session_factory() as db_session:
        hits = service.search(
            db_session=db_session,
            index=indexed.runtime.index,
            kbs=[indexed.kb],
            query=query,
            params=service.SearchParams(**params),  # type: ignore[arg-type]
        )
    return list(dict.fromkeys(h.chunk.source for h in hits))


@pytest.mark.parametrize(
    ("question", "document"),
    [
        ("借书证丢了，补办一张要多少钱？", "library-card.md"),
        ("彩色打印一页多少钱？", "printing.md"),
        ("What is the fine for returning a book late?", "borrowing-rules.md"),
        ("What time does the children's reading area open on weekends?", "childrens-area.md"),
    ],
)
def test_a_question_finds_the_document_in_the_other_language(
    indexed: Library, question: str, document: str
) -> None:
    sources = _sources(indexed, question)
    assert document in sources[:2], sources


def test_the_query_language_comes_first_and_documents_are_not_repeated(indexed: Library) -> None:
    with indexed.runtime.session_factory() as db_session:
        hits = service.search(
            db_session=db_session,
            index=indexed.runtime.index,
            kbs=[indexed.kb],
            query="逾期还书要交多少滞纳金？",
            params=service.SearchParams(top_k=6),
        )
    assert hits[0].chunk.source == "borrowing-rules.md" and hits[0].chunk.lang == "zh"
    # Every document's best chunk before any document's second one.
    sources = [h.chunk.source for h in hits]
    first_repeat = next(i for i, s in enumerate(sources) if s in sources[:i])
    assert len(set(sources[:first_repeat])) == first_repeat == len(set(sources))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_a_follow_up_finds_its_document_through_the_history(indexed: Library) -> None:
    question = "那周末呢？"
    study = (("user", "自习室怎么预约？"), ("assistant", "在官网或公众号预约，最多提前3天。"))
    children = (("user", "孩子可以自己进少儿阅览区吗？"), ("assistant", "12岁以下需要家长陪同。"))
    lang = detect_lang(question)
    after_study = _sources(indexed, contextual_query(question, study), query_lang=lang)
    after_children = _sources(indexed, contextual_query(question, children), query_lang=lang)
    assert after_study[0] == "study-rooms.md", after_study
    assert after_children[0] == "childrens-area.md", after_children


def test_filters_and_an_empty_query(indexed: Library) -> None:
    faq_only = _sources(indexed, "书能续借吗", kind="faq")
    assert faq_only == ["faq.csv"]
    english_only = _sources(indexed, "借书证丢了怎么办", lang="en")
    assert english_only and all(
        s in {"library-card.md", "printing.md", "faq.csv"} for s in english_only
    )
    assert _sources(indexed, "   ") == []


def test_stored_faqs_are_read_back_as_the_router_needs_them(indexed: Library) -> None:
    with indexed.runtime.session_factory() as db_session:
        faqs = stored_faqs(db_session=db_session, index=indexed.runtime.index, kb=indexed.kb)
    by_question = {f.question: f for f in faqs}
    renew = by_question["图书可以续借几次？"]
    assert renew.variants == ("书能续借吗", "借的书怎么续期")
    assert renew.answer.startswith("可以在到期前续借2次") and renew.source == "faq.csv"
    assert len(faqs) == 2
