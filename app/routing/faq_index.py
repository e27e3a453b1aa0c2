"""One knowledge base's FAQ pairs, embedded variant by variant, and how a message matches them."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.routing import text as textlib
from app.routing.calibration import Calibration, calibrate
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
        calibration: Calibration,
        stopwords: Collection[str],
    ) -> None:
        self.entries = tuple(entries)
        self.vectors = vectors
        self.owners = owners
        self.calibration = calibration
        self._stopwords = stopwords
        self._variants = [_variants(entry) for entry in self.entries]
        # Words and numbers of each pair (question, paraphrases and answer), computed once.
        self._words = [
            set(textlib.tokens(" ".join([*variants, entry.answer]), stopwords))
            for entry, variants in zip(self.entries, self._variants, strict=True)
        ]
        self._numbers = [
            set(textlib.numbers(" ".join([*variants, entry.answer])))
            for entry, variants in zip(self.entries, self._variants, strict=True)
        ]
        self._typical_length = _typical_lengths(self._variants)

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
        calibration = calibrate(
            vectors,
            owner_array,
            [textlib.detect_lang(t) for t in texts],
            prior_gap=prior_gap,
            min_gap=min_gap,
            min_samples=min_samples,
        )
        return cls(entries, vectors, owner_array, calibration, stopwords)

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, vector: Vectors, message: str, lang: str) -> FaqMatch | None:
        if not self.entries:
            return None
        sims = self.vectors @ vector
        best = np.full(len(self.entries), -1.0, dtype=np.float32)
        np.maximum.at(best, self.owners, sims)
        order = np.argsort(-best)
        top = int(order[0])
        runner_up = float(best[order[1]]) if len(order) > 1 else float(best[top]) - 0.1
        variant_rows = np.flatnonzero(self.owners == top)
        variant = self._variants[top][int(np.argmax(sims[variant_rows]))]
        scale = self.calibration.scale(lang)
        words = set(textlib.tokens(message, self._stopwords))
        known = self._words[top]
        coverage = len(words & known) / len(words) if words else 1.0
        new_numbers = sum(1 for n in textlib.numbers(message) if n not in self._numbers[top])
        typical = self._typical_length.get(lang) or self._typical_length.get("", 8.0)
        features = FaqFeatures(
            score=float(best[top]),
            runner_up=runner_up,
            calibrated=scale.score(float(best[top])),
            calibrated_margin=scale.margin(float(best[top]) - runner_up),
            coverage=coverage,
            new_numbers=new_numbers,
            relative_length=math.log((1 + textlib.visible_length(message)) / (1 + typical)),
            variant=variant,
        )
        return FaqMatch(entry=self.entries[top], features=features)


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
