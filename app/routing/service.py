"""The router: decide handoff, smalltalk, FAQ or agent before any LLM call.

In this order: explicit handoff (patterns, then nearest exemplars), repeated dissatisfaction
across the conversation, smalltalk (whole-message phrases, then nearest exemplars for short
messages), a verbatim FAQ answer when the FAQ model says the best match answers the message
fully, and the agent for everything else. See prompts/routing.yaml for the data.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path

from app.routing import text as textlib
from app.routing.faq_index import FaqIndex, FaqMatch
from app.routing.intents import IntentDetector, Nearest, smalltalk_priority, split_clauses
from app.routing.rules import RoutingRules, Templates, load_rules, load_templates
from app.routing.schemas import FaqEntry, QueryEmbedder, Route, RouteDecision, Vectors
from app.routing.vector_cache import VectorCache

URGENCY = ("handoff.fraud", "handoff.legal", "handoff.complaint", "handoff.abuse")
IDENTITY = "smalltalk.identity"
DISSATISFIED = "handoff.dissatisfied"
ACCOUNT = "llm.account"
FOLLOWUP = "llm.followup"
CALCULATION = "llm.calculation"


class Router:
    """Thread-safe: FAQ indexes are immutable and swapped in whole; caches take a lock."""

    def __init__(
        self,
        embedder: QueryEmbedder,
        *,
        rules_path: Path | None = None,
        templates_path: Path | None = None,
        service_hours: str | None = None,
        cache_size: int = 4096,
    ) -> None:
        self.rules: RoutingRules = load_rules(rules_path)
        self.templates: Templates = load_templates(templates_path)
        self._embedder = embedder
        self._service_hours = service_hours
        self._detector = IntentDetector(self.rules, embedder)
        # Every handoff intent decides on its patterns alone, except dissatisfaction, which
        # needs to be repeated (see _repeatedly_dissatisfied). The most urgent name wins, so
        # the reply fits: a fraud in progress before a threat before a plain request.
        handoff = [r.name for r in self.rules.intents if r.route == "handoff"]
        self._handoff_patterns = tuple(
            sorted(
                (name for name in handoff if name != DISSATISFIED),
                key=lambda n: URGENCY.index(n) if n in URGENCY else len(URGENCY),
            )
        )
        self._vectors = VectorCache(embedder, size=cache_size)
        self._indexes: dict[str, tuple[str, FaqIndex]] = {}
        self._index_lock = threading.Lock()

    # -- knowledge bases ---------------------------------------------------------------

    def load_faqs(self, kb_key: str, faqs: Sequence[FaqEntry]) -> None:
        """Embed every question and paraphrase once and self-calibrate on them.

        A no-op when this knowledge base is loaded with the same pairs already.
        """
        fingerprint = _fingerprint(faqs)
        with self._index_lock:
            current = self._indexes.get(kb_key)
            if current is not None and current[0] == fingerprint:
                return
        params = self.rules.params["faq"]
        index = FaqIndex.build(
            faqs,
            self._embedder,
            stopwords=self.rules.stopwords,
            prior_gap=float(params["prior_gap"]),
            min_gap=float(params["min_gap"]),
            min_samples=int(params["min_calibration_samples"]),
            cross_lingual_offset=float(params["cross_lingual_offset"]),
        )
        with self._index_lock:
            self._indexes[kb_key] = (fingerprint, index)

    def unload_faqs(self, kb_key: str) -> None:
        with self._index_lock:
            self._indexes.pop(kb_key, None)

    def faq_index(self, kb_key: str | None) -> FaqIndex | None:
        """The loaded index; with no key, the only one loaded (several need a key)."""
        with self._index_lock:
            if kb_key is None:
                loaded = list(self._indexes.values())
                return loaded[0][1] if len(loaded) == 1 else None
            found = self._indexes.get(kb_key)
            return found[1] if found else None

    # -- routing -----------------------------------------------------------------------

    def route(
        self,
        question: str,
        *,
        history: Sequence[tuple[str, str]] = (),
        kb_key: str | None = None,
        lang: str | None = None,
    ) -> RouteDecision:
        """Route one customer message; ``history`` is (role, content) pairs, oldest first."""
        message = textlib.normalise(question)
        lang = lang or textlib.detect_lang(message)
        if not message or textlib.is_emoji_only(message):
            return self._template("smalltalk", "smalltalk.emoji", 0.95, lang)

        # An emoji after an identity question must not hide the question from the anchored patterns.
        identity = self._detector.matching_pattern(
            textlib.strip_symbols(message) or message, (IDENTITY,)
        )
        explicit = self._detector.matching_pattern(message, self._handoff_patterns)
        if explicit and not identity:
            return self._template("handoff", explicit, 0.95, lang)

        core = self._core(message)
        vector = self._vectors.embed([core])[0]
        nearest = self._detector.nearest(vector)

        semantic = self._semantic_intent(nearest, "handoff.")
        if semantic and semantic[0] != DISSATISFIED and not identity:
            return self._template("handoff", semantic[0], semantic[1], lang)
        if self._repeatedly_dissatisfied(message, nearest, history):
            return self._template("handoff", DISSATISFIED, 0.9, lang)

        smalltalk = self._smalltalk(message, nearest, identity, history)
        if smalltalk is not None:
            if smalltalk[0] == "smalltalk.ack" and _answers_a_question(history):
                # "好的" / "sure" after "shall I check it for you?" is a yes to the agent.
                return RouteDecision("llm", FOLLOWUP, smalltalk[1], lang=lang)
            return self._template("smalltalk", smalltalk[0], smalltalk[1], lang)

        return self._faq_or_agent(core, vector, history, kb_key, lang)

    # -- steps -------------------------------------------------------------------------

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """Query embeddings through the router's cache: retrieval asks for the message the
        router has just embedded, so a turn embeds it once."""
        return self._vectors.embed(texts)

    def message_vector(self, question: str) -> Vectors:
        """The embedding routing used for this message (from the cache when it was routed):
        without emoji or an opening greeting, so "你好，X" and "X" are the same question."""
        row: Vectors = self._vectors.embed([self._core(textlib.normalise(question))])[0]
        return row

    def _core(self, message: str) -> str:
        """What gets embedded: no emoji, no leading greeting. Same for history turns, so a
        turn embedded as the current message is found in the cache later."""
        return self._detector.without_opening(textlib.strip_symbols(message) or message)

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

    def _smalltalk(
        self,
        message: str,
        nearest: Nearest,
        identity: str | None,
        history: Sequence[tuple[str, str]],
    ) -> tuple[str, float] | None:
        if identity:
            return identity, 0.95
        phrases = self._detector.smalltalk_only(message)
        if phrases:
            return phrases, 0.9
        # Exemplars decide only for short messages that stand alone: a long one that opens
        # with a greeting carries a real question, and "那晚上呢" after an answer about
        # daytime prices is a follow-up, however close "晚上" is to "晚上好".
        limit = int(self.rules.params["intents"]["smalltalk_max_length"])
        if textlib.visible_length(message) > limit:
            return self._smalltalk_clauses(message, limit)
        if history and self._detector.pattern_hits(message, FOLLOWUP):
            return None
        return self._semantic_intent(nearest, "smalltalk.")

    def _smalltalk_clauses(self, message: str, limit: int) -> tuple[str, float] | None:
        """A message made only of smalltalk clauses ("你是机器人吧 回得挺快", "you guys are
        great, see you next time") is smalltalk; one clause with content is not."""
        clauses = split_clauses(message)
        if not 2 <= len(clauses) <= 4 or any(textlib.visible_length(c) > limit for c in clauses):
            return None
        found: list[tuple[str, float]] = []
        unmatched: list[str] = []
        for clause in clauses:
            if self._detector.matching_pattern(clause, (IDENTITY,)):
                found.append((IDENTITY, 0.95))
            elif phrases := self._detector.smalltalk_only(clause):
                found.append((phrases, 0.9))
            else:
                unmatched.append(self._core(clause))
        # The clauses no pattern names are embedded together, once.
        for vector in self._vectors.embed(unmatched) if unmatched else []:
            semantic = self._semantic_intent(self._detector.nearest(vector), "smalltalk.")
            if semantic is None:
                return None
            found.append(semantic)
        # The reply answers the identity question first, when one of the clauses asks it.
        names = [name for name, _ in found]
        name = IDENTITY if IDENTITY in names else smalltalk_priority(names)
        return name, min(confidence for _, confidence in found)

    def _repeatedly_dissatisfied(
        self, message: str, nearest: Nearest, history: Sequence[tuple[str, str]]
    ) -> bool:
        params = self.rules.params["handoff"]
        if not history or not self._dissatisfied(message, nearest):
            return False
        window = int(params["history_window"])
        earlier = [
            textlib.normalise(content)
            for role, content in list(history)[-2 * window :]
            if role == "user" and content.strip()
        ]
        if not earlier:
            return False
        vectors = self._vectors.embed([self._core(text) for text in earlier])
        count = 1 + sum(
            self._dissatisfied(text, self._detector.nearest(vector))
            for text, vector in zip(earlier, vectors, strict=True)
        )
        return count >= int(params["dissatisfied_turns"])

    def _dissatisfied(self, message: str, nearest: Nearest) -> bool:
        if self._detector.pattern_hits(message, DISSATISFIED):
            return True
        return self._semantic_intent(nearest, "handoff.") is not None

    def _faq_or_agent(
        self,
        message: str,
        vector: Vectors,
        history: Sequence[tuple[str, str]],
        kb_key: str | None,
        lang: str,
    ) -> RouteDecision:
        account = bool(self._detector.pattern_hits(message, ACCOUNT))
        calculation = bool(self._detector.pattern_hits(message, CALCULATION))
        followup = bool(history) and bool(self._detector.pattern_hits(message, FOLLOWUP))
        index = self.faq_index(kb_key)
        # Numbers that name things (orders, phones, months) are not sums to do.
        numbers = textlib.distinct_quantities(message)
        match: FaqMatch | None = None
        probability = 0.0
        signals: dict[str, float] = {}
        params = self.rules.params["faq"]
        limit = int(params["candidates"])
        candidates = index.candidates(vector, message, limit=limit) if index else []
        vetoed = False
        for candidate in candidates:
            # The operator wrote this FAQ in the customer's words ("when will my parcel
            # arrive?"): its answer is meant for exactly such a message.
            mine = account and not self._detector.pattern_hits(candidate.features.variant, ACCOUNT)
            # Two amounts are circumstances an FAQ answer cannot weigh: a sum to work out.
            cue = mine or calculation or followup or numbers >= 2
            # The nearest pair by embedding is not always the one whose words the message
            # uses or whose answer answers it; the model that weighs all three picks among
            # the nearest few.
            p = self._faq_probability(candidate, history, agent_cue=cue)
            if candidate.features.coverage == 0 and candidate.features.calibrated < 0:
                # Not one content word in common, and further from the message than a typical
                # non-matching pair: nothing says this pair is about the message, however far
                # ahead of the rest it is (in a two-pair FAQ every margin is large).
                p = 0.0
            if match is None or p > probability:
                match, probability, vetoed = candidate, p, mine
        if match is not None:
            features = match.features
            signals = {
                "p_faq": round(probability, 4),
                "score": round(features.score, 4),
                "calibrated": round(features.calibrated, 3),
                "margin": round(features.calibrated_margin, 3),
                "coverage": round(features.coverage if features.coverage is not None else -1, 3),
                "answer_relevance": round(features.answer_relevance, 3),
            }
            # A question about the customer's own records never gets a canned answer, however
            # close an FAQ looks: its answer is not the same for every customer. Only an FAQ
            # written in the customer's own words answers it.
            if not vetoed and probability >= self.rules.faq_model.threshold:
                return RouteDecision(
                    "faq",
                    "faq",
                    round(probability, 4),
                    faq=match.entry,
                    reply=match.entry.answer,
                    lang=lang,
                    signals=signals,
                )
        if followup or (history and textlib.visible_length(message) <= 6):
            intent = FOLLOWUP
        elif account:
            intent = ACCOUNT
        elif calculation or numbers >= 2:
            intent = CALCULATION
        else:
            intent = "llm.question"
        return RouteDecision(
            "llm",
            intent,
            round(1.0 - probability, 4),
            # An account question stays one when the FAQ written in first person does not
            # answer it: its answer is looked up, and never reused for another customer.
            candidate=match.entry if match is not None and not vetoed else None,
            # Two questions in one message are not a calculation: only arithmetic is worth
            # the seconds a thought costs (and only with KEFU_LLM_THINKING=auto).
            needs_reasoning=calculation or numbers >= 2,
            lang=lang,
            signals=signals,
        )

    def _faq_probability(
        self, match: FaqMatch, history: Sequence[tuple[str, str]], *, agent_cue: bool
    ) -> float:
        features = match.features
        return self.rules.faq_model.probability(
            {
                "calibrated": features.calibrated,
                "calibrated_margin": features.calibrated_margin,
                "coverage": (
                    features.coverage
                    if features.coverage is not None
                    else float(self.rules.params["faq"]["coverage_unknown"])
                ),
                "new_numbers": 1.0 if features.new_numbers else 0.0,
                "history": 1.0 if history else 0.0,
                # Only the excess counts: a terse message is not more of an FAQ for being short.
                "excess_length": max(0.0, features.relative_length),
                "agent_cue": 1.0 if agent_cue else 0.0,
                "answer_relevance": features.answer_relevance,
            }
        )

    def _template(self, route: Route, intent: str, confidence: float, lang: str) -> RouteDecision:
        values = {"service_hours": self._service_hours} if self._service_hours else {}
        return RouteDecision(
            route,
            intent,
            round(float(confidence), 4),
            reply=self.templates.render(intent, lang, **values),
            lang=lang,
        )


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
