"""Per-document diversification and the interleaving of per-language lists (pure)."""

from __future__ import annotations

import pytest

from app.retrieval.fusion import diversify, interleave
from knowledge.chunks import Chunk, Hit


def hit(document_id: int, ordinal: int, *, lang: str = "zh", source: str = "") -> Hit:
    chunk = Chunk(
        chunk_id=f"{document_id}-{ordinal}",
        kb_id=1,
        document_id=document_id,
        version=1,
        ordinal=ordinal,
        source=source or f"doc{document_id}",
        text="",
        content="",
        heading_path=(),
        page=None,
        kind="doc",
        lang=lang,  # type: ignore[arg-type]
    )
    return Hit(chunk, 1.0)


def ids(hits: list[Hit]) -> list[str]:
    return [h.chunk.chunk_id for h in hits]


def test_diversify_puts_every_documents_best_chunk_first() -> None:
    ranked = [hit(1, 0), hit(1, 1), hit(1, 2), hit(2, 0), hit(3, 0), hit(2, 1)]
    assert ids(diversify(ranked, per_document=2)) == ["1-0", "2-0", "3-0", "1-1", "2-1"]
    assert ids(diversify(ranked, per_document=1)) == ["1-0", "2-0", "3-0"]
    assert diversify([], per_document=2) == []
    with pytest.raises(ValueError):
        diversify(ranked, per_document=0)


def test_equal_weights_alternate_the_lists_first_list_first() -> None:
    same = [hit(1, 0), hit(2, 0), hit(3, 0)]
    other = [hit(7, 0, lang="en"), hit(8, 0, lang="en")]
    merged = interleave([(1.0, same), (1.0, other)])
    assert ids(merged) == ["1-0", "7-0", "2-0", "8-0", "3-0"]
    assert [h.score for h in merged] == sorted((h.score for h in merged), reverse=True)
    assert merged[1].extra["list"] == 1.0 and merged[1].extra["list_rank"] == 1.0


def test_a_lower_weight_gives_a_list_fewer_slots() -> None:
    same = [hit(d, 0) for d in range(1, 6)]
    other = [hit(d, 0, lang="en") for d in range(7, 10)]
    merged = interleave([(1.0, same), (0.5, other)])
    # 0.5 / (1 + 1) ties with 1 / (1 + 3): the first list wins the tie.
    assert ids(merged)[:5] == ["1-0", "2-0", "3-0", "7-0", "4-0"]
    last = interleave([(1.0, same), (0.0, other)])
    assert ids(last)[-3:] == ["7-0", "8-0", "9-0"]


def test_a_document_in_two_lists_takes_one_slot_where_it_ranks_best() -> None:
    faq_zh, faq_en = hit(5, 0, source="faq.csv"), hit(5, 1, lang="en", source="faq.csv")
    same = [hit(1, 0), faq_zh]
    other = [faq_en, hit(7, 0, lang="en")]
    merged = interleave([(1.0, same), (1.0, other)])
    # faq.csv is first in the English list and second in the Chinese one: it stays English.
    assert ids(merged) == ["1-0", "5-1", "7-0"]
    with pytest.raises(ValueError):
        interleave([(-1.0, same)])
