"""Self-calibration: learn what a match looks like on the knowledge base that is loaded.

Cosine scores of a small multilingual model are compressed (almost everything scores 0.80 to
0.98) and sit on a different level per domain and per pair of languages: a Chinese message
scores about 0.06 lower against an English FAQ question than against a Chinese one of the
same meaning. A fixed cosine threshold tuned on one knowledge base misfires on the next, and
a raw-cosine ranking prefers a wrong FAQ in the message's language over the right one in the
other. The FAQ itself tells us its scale:

- positive: a paraphrase queried against the other variants of its own pair (leave-one-out)
  shows how high a genuine rewording scores;
- negative: a variant queried against every *other* pair shows how high an in-domain
  question that this knowledge base does not answer scores, per language of the variant.

A cosine is then read as ``(cosine - negative) / (positive - negative)``: 0 is a typical
in-domain non-match, 1 a typical paraphrase, whatever the domain or the languages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.routing.schemas import Vectors

LangPair = tuple[str, str]  # (language of the message, language of the FAQ variant)


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


@dataclass(frozen=True)
class Calibration:
    pooled: Scale
    scales: dict[LangPair, Scale]
    cross_lingual_offset: float

    def scale(self, message_lang: str, variant_lang: str) -> Scale:
        found = self.scales.get((message_lang, variant_lang))
        if found is not None:
            return found
        own = self.scales.get((variant_lang, variant_lang))
        if own is None:
            return self.pooled
        if message_lang == variant_lang:
            return own
        # No variant in the message's language to measure with (a Chinese-only FAQ asked in
        # English): assume the usual cross-lingual drop below the variant language's level.
        return Scale(
            negative=own.negative - self.cross_lingual_offset,
            positive=own.positive - self.cross_lingual_offset,
            samples=0,
        )


def calibrate(
    vectors: Vectors,
    owners: npt.NDArray[np.int64],
    langs: list[str],
    *,
    prior_gap: float,
    min_gap: float,
    min_samples: int,
    cross_lingual_offset: float,
) -> Calibration:
    """Leave-one-out over the FAQ variants; see the module docstring.

    The negative is the score a message reaches against the best of the pairs it does not
    match, and a best-of-N depends on N: with 37 Chinese pairs and 6 English ones, the best
    English non-match of a Chinese question is low only because there are few English pairs
    to be best among, and every English pair would then look like a strong match for Chinese
    messages. So the negative of every pair of languages is read off single non-matching
    pairs, at the quantile where the best of as many pairs as the whole FAQ has would fall,
    whatever language they are written in.
    """
    lang_array = np.asarray(langs)
    sims = vectors @ vectors.T
    pair_count = int(owners.max()) + 1 if len(owners) else 0
    quantile = 0.5 ** (1 / max(1, pair_count - 1))  # median of the best of N - 1 others
    positives: dict[str, list[float]] = {}
    singles: dict[LangPair, list[float]] = {}
    for row in range(len(owners)):
        own = owners == owners[row]
        lang = langs[row]
        same = own & (lang_array == lang)
        same[row] = False
        if same.any():
            positives.setdefault(lang, []).append(float(sims[row][same].max()))
        for variant_lang in set(langs):
            others = ~own & (lang_array == variant_lang)
            if others.any():
                # Each other pair once, by its closest variant in that language.
                best = np.full(pair_count, -np.inf, dtype=np.float32)
                np.maximum.at(best, owners[others], sims[row][others])
                singles.setdefault((lang, variant_lang), []).extend(
                    best[np.isfinite(best)].tolist()
                )
    everything = [v for (a, b), values in singles.items() if a == b for v in values]
    all_positives = [v for values in positives.values() for v in values]
    pooled = _scale(everything, all_positives, quantile, prior_gap=prior_gap, min_gap=min_gap)
    scales: dict[LangPair, Scale] = {}
    for (message_lang, variant_lang), values in singles.items():
        if message_lang == variant_lang and len(values) >= min_samples:
            scales[(message_lang, variant_lang)] = _scale(
                values,
                positives.get(message_lang, []),
                quantile,
                prior_gap=pooled.gap,
                min_gap=min_gap,
            )
    for (message_lang, variant_lang), values in singles.items():
        if message_lang == variant_lang or len(values) < min_samples:
            continue
        own_values = singles.get((message_lang, message_lang), everything)
        own = scales.get((message_lang, message_lang), pooled)
        # Paraphrases are written in one language, so no positive is ever measured across
        # languages; the gap of the message's own language stands in for it, stretched to the
        # spread of the cross-lingual scores (a small model compresses those further).
        ratio = float(np.std(values)) / max(float(np.std(own_values)), 1e-6)
        negative = float(np.quantile(values, quantile))
        scales[(message_lang, variant_lang)] = Scale(
            negative, negative + max(own.gap * ratio, min_gap), len(values)
        )
    return Calibration(pooled=pooled, scales=scales, cross_lingual_offset=cross_lingual_offset)


def _scale(
    negatives: list[float],
    positives: list[float],
    quantile: float,
    *,
    prior_gap: float,
    min_gap: float,
) -> Scale:
    if not negatives:
        return Scale(negative=0.88, positive=0.88 + prior_gap, samples=0)
    negative = float(np.quantile(negatives, quantile))
    # Medians, not means: a few near-duplicate pairs in an FAQ would drag a mean upwards.
    # An FAQ without paraphrases shows no positives; assume the gap seen on typical FAQs.
    positive = float(np.median(positives)) if len(positives) >= 3 else negative + prior_gap
    return Scale(negative, max(positive, negative + min_gap), len(negatives))
