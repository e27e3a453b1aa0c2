"""The router: decide handoff, smalltalk, FAQ or agent before any LLM call."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.routing import text as textlib
from app.routing.faq_index import FaqIndex, FaqMatch
from app.routing.intents import IntentDetector, Nearest
from app.routing.rules import RoutingRules, Templates, load_rules, load_templates
from app.routing.schemas import FaqEntry, QueryEmbedder, RouteDecision, Vectors

HANDOFF_PATTERN_ORDER = ("handoff.legal", "handoff.complaint", "handoff.human")
ACCOUNT_INTENT = "llm.account"
FOLLOWUP_INTENT = "llm.followup"
CALCULATION_INTENT = "llm.calculation"


class Router:
    """Thread-safe: indexes are immutable and swapped in whole; caches take a lock."""

    def __init__(
        self,
        embedder: QueryEmbedder,
        *,
        rules_path: Path | None = None,
        templates_path: Path | None = None,
        service_hours: str | None = None,
        cache_size: int = 4096,
    ) -> None:
        self._embedder = embedder
        self.rules: RoutingRules = load_rules(rules_path)
        self.templates: Templates = load_templates(templates_path)
        self._service_hours = service_hours
        self._detector = IntentDetector(self.rules, embedder)
        self._indexes: dict[str, tuple[str, FaqIndex]] = {}
        self._index_lock = threading.Lock()
        # A history turn was the current message one request earlier: keeping its vector
        # means dissatisfaction across the conversation costs no extra embedding.
        self._vectors: OrderedDict[str, Vectors] = OrderedDict()
        self._vector_lock = threading.Lock()
        self._cache_size = cache_size

    # -- knowledge bases ---------------------------------------------------------------

    def load_faqs(self, kb_key: str, faqs: Sequence[FaqEntry]) -> None:
        """Embed every variant once and self-calibrate; a no-op when nothing changed."""
        fingerprint = _fingerprint(faqs)
        with self._index_lock:
            current = self._indexes.get(kb_key)
            if current is not None and current[0] == fingerprint:
                return
        faq = self.rules.params["faq"]
        index = FaqIndex.build(
            faqs,
            self._embedder,
            stopwords=self.rules.stopwords,
            prior_gap=float(faq["prior_gap"]),
            min_gap=float(faq["min_gap"]),
            min_samples=int(faq["min_calibration_samples"]),
        )
        with self._index_lock:
            self._indexes[kb_key] = (fingerprint, index)

    def unload_faqs(self, kb_key: str) -> None:
        with self._index_lock:
            self._indexes.pop(kb_key, None)

    def faq_index(self, kb_key: str | None) -> FaqIndex | None:
        with self._index_lock:
            if kb_key is None:
                # One loaded knowledge base is unambiguous; several need a key.
                only = list(self._indexes.values())
                return only[0][1] if len(only) == 1 else None
            entry = self._indexes.get(kb_key)
            return entry[1] if entry else None

    # -- routing -----------------------------------------------------------------------

    def route(
        self,
        question: str,
        *,
        history: Sequence[tuple[str, str]] = (),
        kb_key: str | None = None,
        lang: str | None = None,
    ) -> RouteDecision:
        message = textlib.normalise(question)
        lang = lang or textlib.detect_lang(message)
        if not message or textlib.is_emoji_only(message):
            return self._reply("smalltalk", "smalltalk.emoji", 0.95, lang)

        pattern = self._detector.matching_pattern(message, HANDOFF_PATTERN_ORDER)
        identity = self._detector.matching_pattern(message, ("smalltalk.identity",))
        if pattern and not identity:
            return self._reply("handoff", pattern, 0.95, lang)

        vector = self._embed([textlib.strip_symbols(message) or message])[0]
        nearest = self._detector.nearest(vector)
        params = self.rules.params["intents"]

        handoff = self._semantic_intent(nearest, "handoff.")
        if handoff and handoff[0] != "handoff.dissatisfied" and not identity:
            return self._reply("handoff", handoff[0], handoff[1], lang)
        if self._repeatedly_dissatisfied(message, nearest, history):
            return self._reply("handoff", "handoff.dissatisfied", 0.9, lang)

        if identity:
            return self._reply("smalltalk", identity, 0.95, lang)
        smalltalk = self._detector.smalltalk_only(message)
        if smalltalk is None and textlib.visible_length(message) <= int(
            params["smalltalk_max_length"]
        ):
            found = self._semantic_intent(nearest, "smalltalk.")
            smalltalk = found[0] if found else None
        if smalltalk is not None:
            if smalltalk == "smalltalk.ack" and _answers_a_question(history):
                return RouteDecision("llm", FOLLOWUP_INTENT, 0.8, lang=lang)
            return self._reply("smalltalk", smalltalk, 0.9, lang)

        return self._faq_or_agent(message, vector, nearest, history, kb_key, lang)

    # -- steps -------------------------------------------------------------------------

    def _semantic_intent(self, nearest: Nearest, prefix: str) -> tuple[str, float] | None:
        """The nearest intent when it has this prefix, is close enough and clearly ahead."""
        params = self.rules.params["intents"]
        name, similarity = nearest.best()
        if not name.startswith(prefix) or similarity < float(params["min_similarity"]):
            return None
        others = [n for n in nearest.similarity if not n.startswith(prefix)]
        if nearest.margin(name, over=others) < float(params["min_margin"]):
            return None
        return name, similarity

    def _repeatedly_dissatisfied(
        self, message: str, nearest: Nearest, history: Sequence[tuple[str, str]]
    ) -> bool:
        params = self.rules.params["handoff"]
        if not self._dissatisfied(message, nearest):
            return False
        window = int(params["history_window"])
        earlier = [
            textlib.normalise(content)
            for role, content in history[-2 * window :]
            if role == "user" and content.strip()
        ]
        if not earlier:
            return False
        vectors = self._embed(earlier)
        count = 1 + sum(
            self._dissatisfied(text, self._detector.nearest(vec))
            for text, vec in zip(earlier, vectors, strict=True)
        )
        return count >= int(params["dissatisfied_turns"])

    def _dissatisfied(self, message: str, nearest: Nearest) -> bool:
        if self._detector.pattern_hits(message, "handoff.dissatisfied"):
            return True
        found = self._semantic_intent(nearest, "handoff.")
        return found is not None

    def _faq_or_agent(
        self,
        message: str,
        vector: Vectors,
        nearest: Nearest,
        history: Sequence[tuple[str, str]],
        kb_key: str | None,
        lang: str,
    ) -> RouteDecision:
        account = bool(self._detector.pattern_hits(message, ACCOUNT_INTENT))
        followup = bool(history) and bool(self._detector.pattern_hits(message, FOLLOWUP_INTENT))
        calculation = bool(self._detector.pattern_hits(message, CALCULATION_INTENT))
        index = self.faq_index(kb_key)
        match = index.match(vector, message, lang) if index is not None else None
        probability = self._faq_probability(match, history) if match else 0.0
        signals = {"p_faq": round(probability, 4)}
        if match is not None:
            features = match.features
            signals.update(
                score=round(features.score, 4),
                calibrated=round(features.calibrated, 3),
                margin=round(features.calibrated_margin, 3),
                coverage=round(features.coverage, 3),
            )
            model = self.rules.faq_model
            override = float(self.rules.params["faq"]["account_override"])
            if probability >= model.threshold and not (
                account and features.calibrated < override
            ):
                return RouteDecision(
                    "faq",
                    "faq",
                    round(probability, 4),
                    faq=match.entry,
                    reply=match.entry.answer,
                    lang=lang,
                    signals=signals,
                )
        numbers = len(textlib.numbers(message))
        needs_reasoning = calculation or numbers >= 2 or textlib.question_count(message) >= 2
        if followup:
            intent = FOLLOWUP_INTENT
        elif account:
            intent = ACCOUNT_INTENT
        elif calculation or numbers >= 2:
            intent = CALCULATION_INTENT
        else:
            intent = "llm.question"
        return RouteDecision(
            "llm",
            intent,
            round(1.0 - probability, 4),
            needs_reasoning=needs_reasoning,
            lang=lang,
            signals=signals,
        )

    def _faq_probability(self, match: FaqMatch, history: Sequence[tuple[str, str]]) -> float:
        features = match.features
        return self.rules.faq_model.probability(
            {
                "calibrated": features.calibrated,
                "calibrated_margin": features.calibrated_margin,
                "coverage": features.coverage,
                "new_numbers": 1.0 if features.new_numbers else 0.0,
                "history": 1.0 if history else 0.0,
                "relative_length": features.relative_length,
            }
        )

    def _reply(self, route: str, intent: str, confidence: float, lang: str) -> RouteDecision:
        reply = self.templates.render(
            intent, lang, **({"service_hours": self._service_hours} if self._service_hours else {})
        )
        return RouteDecision(
            route,  # type: ignore[arg-type]
            intent,
            round(float(confidence), 4),
            reply=reply,
            lang=lang,
        )

    def _embed(self, texts: list[str]) -> Vectors:
        with self._vector_lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
            for text in known:
                self._vectors.move_to_end(text)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            fresh = np.asarray(self._embedder.embed_queries(missing), dtype=np.float32)
            known.update(zip(missing, fresh, strict=True))
            with self._vector_lock:
                self._vectors.update(zip(missing, fresh, strict=True))
                while len(self._vectors) > self._cache_size:
                    self._vectors.popitem(last=False)
        return np.stack([known[t] for t in texts])


def _answers_a_question(history: Sequence[tuple[str, str]]) -> bool:
    """The last assistant turn asked something, so "ok" / "好的" is an answer to it."""
    for role, content in reversed(history):
        if role == "assistant":
            return content.rstrip().endswith(("?", "？"))
    return False


def _fingerprint(faqs: Sequence[FaqEntry]) -> str:
    digest = hashlib.sha1()
    for entry in faqs:
        for part in (entry.chunk_id, entry.question, *entry.variants, entry.answer):
            digest.update(part.encode("utf-8"))
            digest.update(b"\x00")
    return digest.hexdigest()
