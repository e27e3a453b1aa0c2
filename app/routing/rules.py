"""Load the routing rules and reply templates from ``prompts/`` (YAML data, no code)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
DEFAULT_RULES = PROMPTS_DIR / "routing.yaml"
DEFAULT_TEMPLATES = PROMPTS_DIR / "smalltalk.yaml"

IntentRoute = Literal["handoff", "smalltalk", "llm", "none"]
LANGS = ("zh", "en")


class RulesError(ValueError):
    """The YAML is not what the router expects; the message names the offending key."""


@dataclass(frozen=True)
class IntentRule:
    name: str
    route: IntentRoute
    patterns: tuple[re.Pattern[str], ...]
    # Whole-message phrases (smalltalk, regular expressions): the message is made of these
    # and nothing else.
    phrases: dict[str, tuple[str, ...]]
    exemplars: tuple[str, ...]
    # A message matching one of these is not this intent whatever ``patterns`` say: "可以向
    # 监管部门投诉吗" asks how to complain, it threatens no one.
    unless: tuple[re.Pattern[str], ...] = ()

    def matches(self, message: str) -> bool:
        return any(p.search(message) for p in self.patterns) and not any(
            p.search(message) for p in self.unless
        )


@dataclass(frozen=True)
class FaqModel:
    """A logistic model over FAQ-match features: P(faq) = sigmoid(bias + sum(w_i * x_i))."""

    bias: float
    weights: dict[str, float]
    threshold: float = 0.5

    def probability(self, values: dict[str, float]) -> float:
        z = self.bias + sum(w * values[name] for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass(frozen=True)
class RoutingRules:
    intents: tuple[IntentRule, ...]
    params: dict[str, Any]
    fillers: dict[str, str | tuple[str, ...]]
    stopwords: frozenset[str]
    faq_model: FaqModel
    source: Path = field(default=DEFAULT_RULES)
    tiebreak_prompt: str = ""

    def intent(self, name: str) -> IntentRule:
        for rule in self.intents:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def param(self, section: str, key: str) -> float:
        return float(self.params[section][key])


@dataclass(frozen=True)
class Templates:
    """Reply templates per intent and language; ``{service_hours}`` and friends are filled in."""

    replies: dict[str, dict[str, str]]
    defaults: dict[str, str]

    def render(self, intent: str, lang: str, **values: str) -> str | None:
        by_lang = self.replies.get(intent) or self.replies.get(intent.split(".")[0])
        if not by_lang:
            return None
        text = by_lang.get(lang) or by_lang.get("zh") or next(iter(by_lang.values()))
        filled = {**self.defaults, **{k: v for k, v in values.items() if v}}
        return text.format_map(_Missing(filled))


class _Missing(dict[str, str]):
    # A template naming a value nobody supplied keeps its placeholder instead of failing a reply.
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def load_rules(path: Path | None = None) -> RoutingRules:
    path = path or DEFAULT_RULES
    data = _read(path)
    intents = tuple(_intent(name, body) for name, body in _mapping(data, "intents", path).items())
    lexicon = _mapping(data, "lexicon", path)
    fillers_raw = _mapping(lexicon, "fillers", path)
    stopwords_raw = _mapping(lexicon, "stopwords", path)
    params = _mapping(data, "parameters", path)
    return RoutingRules(
        intents=intents,
        params=params,
        fillers={
            lang: value if isinstance(value, str) else tuple(str(v) for v in value)
            for lang, value in fillers_raw.items()
        },
        stopwords=frozenset(str(w) for words in stopwords_raw.values() for w in words),
        faq_model=_faq_model(_mapping(params, "faq", path)),
        source=path,
        tiebreak_prompt=str((data.get("tiebreak") or {}).get("prompt") or "").strip(),
    )


def load_templates(path: Path | None = None) -> Templates:
    path = path or DEFAULT_TEMPLATES
    data = _read(path)
    replies = {
        str(intent): {str(lang): str(text).strip() for lang, text in by_lang.items()}
        for intent, by_lang in _mapping(data, "replies", path).items()
    }
    defaults = {str(k): str(v) for k, v in (data.get("defaults") or {}).items()}
    return Templates(replies=replies, defaults=defaults)


def _intent(name: str, body: dict[str, Any]) -> IntentRule:
    route = body.get("route", "none")
    if route not in ("handoff", "smalltalk", "llm", "none"):
        raise RulesError(f"intents.{name}.route: unknown route {route!r}")
    patterns = _patterns(name, "patterns", body)
    unless = _patterns(name, "unless", body)
    phrases = {
        str(lang): tuple(str(p).lower() for p in items)
        for lang, items in (body.get("phrases") or {}).items()
    }
    for items in phrases.values():
        for phrase in items:
            try:
                re.compile(phrase)
            except re.error as exc:
                raise RulesError(f"intents.{name}.phrases: {phrase!r}: {exc}") from exc
    exemplars = tuple(
        str(text) for items in (body.get("exemplars") or {}).values() for text in items
    )
    return IntentRule(
        name=name,
        route=cast(IntentRoute, route),
        patterns=tuple(patterns),
        phrases=phrases,
        exemplars=tuple(dict.fromkeys(exemplars)),
        unless=unless,
    )


def _patterns(name: str, key: str, body: dict[str, Any]) -> tuple[re.Pattern[str], ...]:
    compiled: list[re.Pattern[str]] = []
    for lang_patterns in (body.get(key) or {}).values():
        for pattern in lang_patterns:
            try:
                compiled.append(re.compile(pattern, re.IGNORECASE))
            except re.error as exc:
                raise RulesError(f"intents.{name}.{key}: {pattern!r}: {exc}") from exc
    return tuple(compiled)


# What the router measures for an FAQ match (service.Router._faq_probability): a weight for
# anything else would fail every FAQ question at run time, so it fails loading instead.
FAQ_FEATURES = (
    "calibrated",
    "calibrated_margin",
    "coverage",
    "new_numbers",
    "history",
    "excess_length",
    "agent_cue",
    "answer_relevance",
)


def _faq_model(section: dict[str, Any]) -> FaqModel:
    model = section.get("model") or {}
    weights = {str(k): float(v) for k, v in (model.get("weights") or {}).items()}
    unknown = sorted(set(weights) - set(FAQ_FEATURES))
    if unknown:
        raise RulesError(
            f"parameters.faq.model.weights: unknown feature(s) {', '.join(unknown)}; "
            f"known: {', '.join(FAQ_FEATURES)}"
        )
    return FaqModel(
        bias=float(model.get("bias", 0.0)),
        weights=weights,
        threshold=float(model.get("threshold", 0.5)),
    )


def _read(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise RulesError(f"{path}: expected a mapping at the top level")
    return data


def _mapping(data: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise RulesError(f"{path}: {key!r} must be a mapping")
    return value
