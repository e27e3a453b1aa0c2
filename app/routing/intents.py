"""Intent detection: YAML patterns, whole-message smalltalk phrases, nearest exemplars."""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from app.routing import text as textlib
from app.routing.rules import IntentRule, RoutingRules
from app.routing.schemas import QueryEmbedder, Vectors

# When a message is made of phrases from several smalltalk intents ("ok thanks, bye"), the
# reply should match the one that ends the exchange.
_SMALLTALK_PRIORITY = (
    "smalltalk.goodbye",
    "smalltalk.thanks",
    "smalltalk.compliment",
    "smalltalk.ack",
    "smalltalk.greeting",
)
# Phrases are taken out of a message longest-meaning first: "点个赞" is a compliment before
# its "赞" is an acknowledgement, "你好" a greeting before its "好" is one.
_STRIP_ORDER = (
    "smalltalk.compliment",
    "smalltalk.goodbye",
    "smalltalk.thanks",
    "smalltalk.greeting",  # before ack: the "好" of "你好" is not an "ok"
    "smalltalk.ack",
)
_PUNCTUATION = re.compile(r"[\W_]+", re.UNICODE)
# Clause breaks: punctuation, and a space next to a Chinese character (Chinese users type a
# space where a comma belongs; between English words a space is just a space).
_CLAUSE_BREAK = re.compile(
    r"[，,。.!！?？;；~～…\n]+|(?<=[\u4e00-\u9fff])\s+|\s+(?=[\u4e00-\u9fff])"
)


def split_clauses(message: str) -> list[str]:
    """The message's clauses, without emoji and empty pieces."""
    pieces = _CLAUSE_BREAK.split(textlib.strip_symbols(message) or message)
    return [p.strip() for p in pieces if _PUNCTUATION.sub("", p)]


def smalltalk_priority(names: Iterable[str]) -> str:
    """Of several smalltalk intents in one message, the one the reply should answer."""
    found = list(names)
    return next((n for n in _SMALLTALK_PRIORITY if n in found), found[0])


# Exemplar vectors per embedder object, so a process that builds several routers on one model
# (evaluation runs, the test suite's many runtimes) embeds the ~250 exemplars once instead of
# spending ~2 s each time. Keyed by the object: another or reconfigured embedder embeds anew.
_EXEMPLAR_VECTORS: weakref.WeakKeyDictionary[QueryEmbedder, dict[tuple[str, ...], Vectors]] = (
    weakref.WeakKeyDictionary()
)
_EXEMPLAR_LOCK = threading.Lock()


def _exemplar_vectors(embedder: QueryEmbedder, texts: Sequence[str]) -> Vectors:
    key = tuple(texts)
    try:
        with _EXEMPLAR_LOCK:
            known = _EXEMPLAR_VECTORS.get(embedder, {}).get(key)
    except TypeError:  # an embedder that cannot be weakly referenced or hashed: no reuse
        return np.asarray(embedder.embed_queries(texts), dtype=np.float32)
    if known is not None:
        return known
    vectors = np.asarray(embedder.embed_queries(texts), dtype=np.float32)
    vectors.flags.writeable = False  # shared by every detector on this embedder
    with _EXEMPLAR_LOCK:
        _EXEMPLAR_VECTORS.setdefault(embedder, {})[key] = vectors
    return vectors


@dataclass(frozen=True)
class Nearest:
    """The nearest exemplar per intent: similarity, and which intent is closest overall."""

    similarity: dict[str, float]

    def best(self) -> tuple[str, float]:
        name = max(self.similarity, key=lambda n: self.similarity[n])
        return name, self.similarity[name]

    def margin(self, name: str, *, over: Iterable[str]) -> float:
        others = [self.similarity[n] for n in over if n != name and n in self.similarity]
        return self.similarity.get(name, -1.0) - max(others, default=-1.0)


class IntentDetector:
    """Built once per rules file; read-only afterwards, so safe to share between threads."""

    def __init__(self, rules: RoutingRules, embedder: QueryEmbedder) -> None:
        self.rules = rules
        texts: list[str] = []
        labels: list[str] = []
        for rule in rules.intents:
            for exemplar in rule.exemplars:
                texts.append(textlib.normalise(exemplar))
                labels.append(rule.name)
        self._labels = np.asarray(labels)
        self._names = sorted(set(labels))
        self._vectors = _exemplar_vectors(embedder, texts)
        phrased = sorted(
            (rule for rule in rules.intents if rule.phrases),
            key=lambda r: _STRIP_ORDER.index(r.name) if r.name in _STRIP_ORDER else -1,
        )
        self._phrases = {rule.name: _phrase_pattern(rule) for rule in phrased}
        zh_fillers = rules.fillers.get("zh", "")
        en_fillers = rules.fillers.get("en", ())
        opening = [
            rule
            for rule in rules.intents
            if rule.name in ("smalltalk.greeting", "smalltalk.thanks", "smalltalk.ack")
        ]
        self._opening = _opening_pattern(opening)
        self._zh_fillers = re.compile(f"[{re.escape(str(zh_fillers))}]") if zh_fillers else None
        self._en_fillers = _word_alternation(en_fillers if isinstance(en_fillers, tuple) else ())

    def nearest(self, vector: Vectors) -> Nearest:
        # The mean of the k closest exemplars: one exemplar sharing a word with the message
        # ("转人工" and "转网" both have 转) must not decide alone.
        k = int(self.rules.params["intents"]["neighbours"])
        sims = self._vectors @ vector
        similarity = {}
        for name in self._names:
            own = sims[self._labels == name]
            top = np.partition(own, len(own) - k)[-k:] if len(own) > k else own
            similarity[name] = float(top.mean())
        return Nearest(similarity)

    def matching_pattern(self, message: str, names: Iterable[str]) -> str | None:
        """The first of ``names`` (in order) whose patterns match ``message``."""
        for name in names:
            if self.rules.intent(name).matches(message):
                return name
        return None

    def pattern_hits(self, message: str, prefix: str) -> list[str]:
        return [
            rule.name
            for rule in self.rules.intents
            if rule.name.startswith(prefix) and rule.matches(message)
        ]

    def smalltalk_only(self, message: str) -> str | None:
        """The smalltalk intent when the message holds nothing but smalltalk phrases.

        "多谢，都弄好了👍" and "ok thanks, bye for now" qualify; "你好，流量怎么查" does
        not, because "流量怎么查" is left over once the greeting is taken away.
        """
        rest = textlib.strip_symbols(message).lower()
        found: list[str] = []
        for name, pattern in self._phrases.items():
            if pattern is None:
                continue
            rest, count = pattern.subn(" ", rest)
            if count:
                found.append(name)
        if not found:
            return None
        if self._en_fillers is not None:
            rest = self._en_fillers.sub(" ", rest)
        if self._zh_fillers is not None:
            rest = self._zh_fillers.sub("", rest)
        if _PUNCTUATION.sub("", rest):
            return None
        return smalltalk_priority(found)

    def without_opening(self, message: str) -> str:
        """The message without a leading greeting or thanks ("您好，请问…" → "…").

        The question after a greeting is what must match an FAQ; the greeting only dilutes
        its embedding.
        """
        rest = message
        while True:
            stripped = self._opening.sub("", rest, count=1) if self._opening else rest
            if stripped == rest:
                break
            rest = stripped
        return rest.strip() if _PUNCTUATION.sub("", rest) else message


def _phrase_pattern(rule: IntentRule) -> re.Pattern[str] | None:
    phrases = sorted({p for items in rule.phrases.values() for p in items}, key=len, reverse=True)
    if not phrases:
        return None
    # Phrases are regular expressions. Latin ones must stand as words ("hi" is not the start
    # of "his"); Chinese has no spaces.
    parts = [
        rf"(?<![a-z])(?:{p})(?![a-z])" if re.search("[a-z]", p) else f"(?:{p})" for p in phrases
    ]
    return re.compile("|".join(parts))


def _opening_pattern(rules: list[IntentRule]) -> re.Pattern[str] | None:
    phrases = sorted(
        {p for rule in rules for items in rule.phrases.values() for p in items},
        key=len,
        reverse=True,
    )
    if not phrases:
        return None
    parts = [rf"(?:{p})(?![a-z])" if re.search("[a-z]", p) else f"(?:{p})" for p in phrases]
    # Only a phrase followed by punctuation or a space counts, so "好的流量包" keeps its "好".
    return re.compile(
        rf"^\s*(?:{'|'.join(parts)})[呀啊哈啦哦嘛呢吧～~]*[\s,，.。!！、:：;；]+", re.I
    )


def _word_alternation(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    escaped = "|".join(re.escape(w.lower()) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![a-z])(?:{escaped})(?![a-z])")
