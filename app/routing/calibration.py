"""Self-calibration: learn what a match looks like on the knowledge base that is loaded.

Cosine scores of a small multilingual model are compressed (almost everything scores 0.85 to
0.98) and sit on a different level per language and per domain, so a fixed cosine threshold
tuned on one knowledge base misfires on the next. The FAQ itself tells us its scale:

- positive: a paraphrase queried against the other variants of its own pair (leave-one-out)
  shows how high a genuine rewording of that question scores;
- negative: the same paraphrase queried against every *other* pair shows how high an
  in-domain question that this knowledge base does not answer scores.

Scores are then expressed as ``(score - negative) / (positive - negative)``: 0 is a typical
in-domain non-match, 1 a typical paraphrase, whatever the domain or language.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.routing.schemas import Vectors


@dataclass(frozen=True)
class Scale:
    negative: float
    positive: float
    samples: int

    @property
    def gap(self) -> float:
        return self.positive - self.negative

    def score(self, cosine: float) -> float:
        return (cosine - self.negative) / self.gap

    def margin(self, difference: float) -> float:
        return difference / self.gap


@dataclass(frozen=True)
class Calibration:
    """One scale per language, with the pooled one for languages with too few samples."""

    pooled: Scale
    by_lang: dict[str, Scale]

    def scale(self, lang: str) -> Scale:
        return self.by_lang.get(lang, self.pooled)


def calibrate(
    vectors: Vectors,
    owners: npt.NDArray[np.int64],
    langs: list[str],
    *,
    prior_gap: float,
    min_gap: float,
    min_samples: int,
) -> Calibration:
    """Leave-one-out over the FAQ variants; see the module docstring."""
    n_pairs = int(owners.max()) + 1 if len(owners) else 0
    sims = vectors @ vectors.T
    positives: dict[str, list[float]] = {}
    negatives: dict[str, list[float]] = {}
    for row in range(len(owners)):
        own = int(owners[row])
        best = np.full(n_pairs, -1.0, dtype=np.float32)
        np.maximum.at(best, owners, sims[row])
        same = (owners == own) & (np.arange(len(owners)) != row)
        lang = langs[row]
        if same.any():
            positives.setdefault(lang, []).append(float(sims[row][same].max()))
        best[own] = -1.0
        if n_pairs > 1:
            negatives.setdefault(lang, []).append(float(best.max()))
    pooled = _scale(
        _flat(negatives), _flat(positives), prior_gap=prior_gap, min_gap=min_gap, fallback=None
    )
    by_lang = {
        lang: _scale(
            values,
            positives.get(lang, []),
            prior_gap=prior_gap,
            min_gap=min_gap,
            fallback=pooled,
        )
        for lang, values in negatives.items()
        if len(values) >= min_samples
    }
    return Calibration(pooled=pooled, by_lang=by_lang)


def _scale(
    negatives: list[float],
    positives: list[float],
    *,
    prior_gap: float,
    min_gap: float,
    fallback: Scale | None,
) -> Scale:
    # Medians, not means: a few near-duplicate pairs in an FAQ would drag a mean upwards.
    if not negatives:
        base = fallback or Scale(negative=0.88, positive=0.88 + prior_gap, samples=0)
        return base
    negative = float(np.median(negatives))
    if len(positives) >= 3:
        positive = float(np.median(positives))
    elif fallback is not None:
        positive = negative + fallback.gap
    else:
        # An FAQ without paraphrases shows no positives; assume the gap seen on typical FAQs.
        positive = negative + prior_gap
    positive = max(positive, negative + min_gap)
    return Scale(negative=negative, positive=positive, samples=len(negatives))


def _flat(groups: dict[str, list[float]]) -> list[float]:
    return [v for values in groups.values() for v in values]
