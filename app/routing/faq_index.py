"""One knowledge base's FAQ pairs, embedded variant by variant, and how a message matches them."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.routing import text as textlib
from app.routing.calibration import Calibration, calibrate
from app.routing.rules import LANGS
from app.routing.schemas import FaqEntry, FaqFeatures, QueryEmbedder, Vectors


@dataclass(frozen=True)
class FaqMatch:
    entry: FaqEntry
    features: FaqFeatures


class FaqIndex:
    """Immutable once built, so concurrent requests read it without a lock."""

    def __init__(
        self,
        entries: Sequence[FaqEntry],
        vectors: Vectors,
        owners: npt.NDArray[np.int64],
        langs: Sequence[str],
        calibration: Calibration,
        stopwords: Collection[str],
        passages: Vectors,
    ) -> None:
        self.entries = tuple(entries)
        self.vectors = vectors
        self.passages = passages
        self.owners = owners
        self.calibration = calibration
        self._stopwords = stopwords
        self._variants = [_variants(entry) for entry in self.entries]
        # Per message language, each variant's calibration as arrays, so that a match is one
        # matrix product and a few vector operations.
        self._scales: dict[str, tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]] = {}
        for message_lang in LANGS:
            scales = [calibration.scale(message_lang, lang) for lang in langs]
            self._scales[message_lang] = (
                np.asarray([s.negative for s in scales], dtype=np.float32),
                np.asarray([s.gap for s in scales], dtype=np.float32),
            )
        # Words and numbers of each pair (question, paraphrases and answer), computed once.
        # Words are kept per language: comparing a Chinese message with English words
        # would call every cross-lingual match uncovered.
        self._words: list[dict[str, set[str]]] = []
        for entry, variants in zip(self.entries, self._variants, strict=True):
            by_lang: dict[str, set[str]] = {}
            for text in [*variants, entry.answer]:
                by_lang.setdefault(textlib.detect_lang(text), set()).update(
                    textlib.tokens(text, stopwords)
                )
            self._words.append(by_lang)
        self._numbers = [
            set(textlib.numbers(" ".join([*variants, entry.answer])))
            for entry, variants in zip(self.entries, self._variants, strict=True)
        ]
        self._typical_length = _typical_lengths(self._variants)
        self._variant_texts = [v for variants in self._variants for v in variants]

    @classmethod
    def build(
        cls,
        entries: Sequence[FaqEntry],
        embedder: QueryEmbedder,
        *,
        stopwords: Collection[str],
        prior_gap: float,
        min_gap: float,
        min_samples: int,
        cross_lingual_offset: float,
    ) -> FaqIndex:
        texts: list[str] = []
        owners: list[int] = []
        for number, entry in enumerate(entries):
            for variant in _variants(entry):
                texts.append(textlib.normalise(variant))
                owners.append(number)
        vectors = (
            np.asarray(embedder.embed_queries(texts), dtype=np.float32)
            if texts
            else np.zeros((0, 1), dtype=np.float32)
        )
        owner_array = np.asarray(owners, dtype=np.int64)
        langs: list[str] = [textlib.detect_lang(t) for t in texts]
        calibration = calibrate(
            vectors,
            owner_array,
            langs,
            prior_gap=prior_gap,
            min_gap=min_gap,
            min_samples=min_samples,
            cross_lingual_offset=cross_lingual_offset,
        )
        passages = (
            np.asarray(
                embedder.embed_passages([f"{e.question} {e.answer}" for e in entries]),
                dtype=np.float32,
            )
            if entries
            else np.zeros((0, 1), dtype=np.float32)
        )
        return cls(entries, vectors, owner_array, langs, calibration, stopwords, passages)

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, vector: Vectors, message: str) -> FaqMatch | None:
        """The best FAQ for the message on the calibrated scale."""
        found = self.candidates(vector, message, limit=1)
        return found[0] if found else None

    def candidates(self, vector: Vectors, message: str, *, limit: int) -> list[FaqMatch]:
        """The ``limit`` best FAQs for the message, ranked on the calibrated scale.

        Ranking calibrated rather than raw scores matters across languages: an English
        question must be able to find its Chinese FAQ even though every Chinese variant
        scores lower against it than an unrelated English one. Each candidate's margin is
        measured against the best of the others, so candidates compare on equal terms.
        """
        if not self.entries:
            return []
        cosines = self.vectors @ vector
        lang = textlib.detect_lang(message)
        negative, gap = self._scales[lang]
        calibrated = (cosines - negative) / gap
        best = np.full(len(self.entries), -np.inf, dtype=np.float32)
        np.maximum.at(best, self.owners, calibrated)
        order = np.argsort(-best)
        words = set(textlib.tokens(message, self._stopwords))
        numbers = textlib.numbers(message)
        typical = self._typical_length.get(lang) or self._typical_length.get("", 8.0)
        relative_length = math.log((1 + textlib.visible_length(message)) / (1 + typical))
        # Standardised per message: raw query-passage cosines sit on a level of their own.
        relevance = self.passages @ vector
        spread = float(relevance.std())
        relevance = (relevance - relevance.mean()) / spread if spread > 1e-6 else relevance * 0
        found = []
        for rank, pair in enumerate(int(p) for p in order[:limit]):
            if len(order) == 1:
                rival = float(best[pair]) - 1.0
            else:
                rival = float(best[order[1]] if rank == 0 else best[order[0]])
            rows = np.flatnonzero(self.owners == pair)
            row = int(rows[np.argmax(calibrated[rows])])
            known = self._words[pair].get(lang)
            coverage: float | None = None
            if known is not None:
                coverage = len(words & known) / len(words) if words else 1.0
            features = FaqFeatures(
                score=float(cosines[row]),
                calibrated=float(best[pair]),
                calibrated_margin=float(best[pair]) - rival,
                coverage=coverage,
                new_numbers=sum(1 for n in numbers if n not in self._numbers[pair]),
                relative_length=relative_length,
                answer_relevance=float(relevance[pair]),
                variant=self._variant_texts[row],
            )
            found.append(FaqMatch(entry=self.entries[pair], features=features))
        return found


def _variants(entry: FaqEntry) -> list[str]:
    return list(dict.fromkeys([entry.question, *entry.variants]))


def _typical_lengths(variants: list[list[str]]) -> dict[str, float]:
    """Median FAQ question length per language ("" for all): how long a plain question is here.

    A message much longer than that usually carries circumstances, numbers or a second
    question, which is what sends it to the agent rather than to a canned answer.
    """
    lengths: dict[str, list[int]] = {"": []}
    for group in variants:
        for variant in group:
            length = textlib.visible_length(variant)
            lengths[""].append(length)
            lengths.setdefault(textlib.detect_lang(variant), []).append(length)
    return {lang: float(np.median(values)) for lang, values in lengths.items() if values}
