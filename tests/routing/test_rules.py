"""The YAML in prompts/ is complete and consistent: the router reads it, never code."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.routing.rules import DEFAULT_RULES, RulesError, load_rules, load_templates

ROUTING_INTENTS = [
    "handoff.human",
    "handoff.complaint",
    "handoff.legal",
    "handoff.dissatisfied",
    "smalltalk.greeting",
    "smalltalk.thanks",
    "smalltalk.ack",
    "smalltalk.goodbye",
    "smalltalk.identity",
    "smalltalk.emoji",
]


def test_every_routing_intent_has_a_reply_in_both_languages() -> None:
    templates = load_templates()
    for intent in ROUTING_INTENTS:
        for lang in ("zh", "en"):
            reply = templates.render(intent, lang, service_hours="9-5")
            assert reply, (intent, lang)
            assert "{" not in reply, (intent, lang)


def test_handoff_replies_name_the_service_hours() -> None:
    templates = load_templates()
    for intent in [i for i in ROUTING_INTENTS if i.startswith("handoff.")]:
        for lang in ("zh", "en"):
            reply = templates.render(intent, lang, service_hours="8:00-20:00")
            assert reply is not None and "8:00-20:00" in reply


def test_a_missing_placeholder_value_keeps_the_default() -> None:
    reply = load_templates().render("handoff.human", "en")
    assert reply is not None and "{service_hours}" not in reply


def test_intents_have_exemplars_in_both_languages() -> None:
    raw = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    for name, body in raw["intents"].items():
        if "exemplars" in body:
            assert set(body["exemplars"]) == {"zh", "en"}, name


def test_faq_model_and_parameters_are_complete() -> None:
    rules = load_rules()
    assert set(rules.faq_model.weights) == {
        "calibrated",
        "calibrated_margin",
        "coverage",
        "new_numbers",
        "history",
        "excess_length",
        "agent_cue",
        "answer_relevance",
    }
    for key in ("min_similarity", "min_margin", "neighbours", "smalltalk_max_length"):
        assert key in rules.params["intents"]


def test_an_unknown_faq_feature_is_refused_when_loading(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    raw["parameters"]["faq"]["model"]["weights"]["sentiment"] = 0.3
    broken = tmp_path / "routing.yaml"
    broken.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RulesError, match=r"unknown feature.*sentiment"):
        load_rules(broken)


def test_a_broken_pattern_is_reported_with_its_intent(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    raw["intents"]["handoff.human"]["patterns"]["en"].append("(unclosed")
    broken = tmp_path / "routing.yaml"
    broken.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RulesError, match=r"handoff\.human"):
        load_rules(broken)
