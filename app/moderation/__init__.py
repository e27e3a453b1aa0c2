"""Sensitive-word moderation: one word list (``prompts/sensitive_words.txt``), loaded once."""

from app.moderation.filter import Match, SensitiveWordFilter
from app.moderation.service import (
    Verdict,
    check,
    default_words_path,
    filter_for,
    load_filter,
    words_path,
)

__all__ = [
    "Match",
    "SensitiveWordFilter",
    "Verdict",
    "check",
    "default_words_path",
    "filter_for",
    "load_filter",
    "words_path",
]
