"""Self-calibration on synthetic vectors, where the right answer is known."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from app.routing.calibration import Calibration, calibrate
from app.routing.schemas import Vectors


def calibrate_test(
    vectors: Vectors, owners: npt.NDArray[np.int64], langs: list[str]
) -> Calibration:
    return calibrate(
        vectors,
        owners,
        langs,
        prior_gap=0.03,
        min_gap=0.01,
        min_samples=3,
        cross_lingual_offset=0.06,
    )


def unit(rows: npt.NDArray[np.float64]) -> Vectors:
    normed: Vectors = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return normed


def faq_vectors(pairs: int, variants: int, noise: float, seed: int = 0) -> Vectors:
    """Each pair is a random direction; its variants are noisy copies of it."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(pairs, 64))
    rows = [c + noise * rng.normal(size=64) for c in centres for _ in range(variants)]
    return unit(np.asarray(rows))


def test_paraphrases_score_above_other_pairs() -> None:
    vectors = faq_vectors(pairs=8, variants=3, noise=0.5)
    owners = np.repeat(np.arange(8, dtype=np.int64), 3)
    calibration = calibrate_test(vectors, owners, ["en"] * len(owners))
    scale = calibration.scale("en", "en")
    assert scale.positive > scale.negative + 0.3
    # A typical paraphrase reads as about 1, a typical non-match as about 0.
    assert scale.score(scale.positive) == pytest.approx(1.0)
    assert scale.score(scale.negative) == pytest.approx(0.0)


def test_an_faq_without_paraphrases_falls_back_to_the_prior_gap() -> None:
    vectors = faq_vectors(pairs=8, variants=1, noise=0.0)
    calibration = calibrate_test(vectors, np.arange(8, dtype=np.int64), ["zh"] * 8)
    assert calibration.scale("zh", "zh").gap == pytest.approx(0.03)


def test_a_language_the_faq_lacks_is_assumed_to_score_lower() -> None:
    vectors = faq_vectors(pairs=8, variants=2, noise=0.3)
    owners = np.repeat(np.arange(8, dtype=np.int64), 2)
    calibration = calibrate_test(vectors, owners, ["zh"] * len(owners))
    zh = calibration.scale("zh", "zh")
    en_to_zh = calibration.scale("en", "zh")
    assert en_to_zh.negative == pytest.approx(zh.negative - 0.06)
    assert en_to_zh.gap == pytest.approx(zh.gap)


def test_languages_are_measured_separately_when_both_are_present() -> None:
    vectors = faq_vectors(pairs=12, variants=2, noise=0.3)
    owners = np.repeat(np.arange(12, dtype=np.int64), 2)
    langs = ["zh"] * 12 + ["en"] * 12
    calibration = calibrate_test(vectors, owners, langs)
    assert {("zh", "zh"), ("en", "en"), ("zh", "en"), ("en", "zh")} <= set(calibration.scales)
