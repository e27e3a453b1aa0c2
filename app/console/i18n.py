"""The console's words, in Chinese (the default) and English, from ``prompts/console.yaml``.

Each entry is ``key: {zh: ..., en: ...}``. A page asks ``t("key")``; a key missing from the
file shows as the key itself (a test checks every key a template uses is present).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from starlette.requests import Request

WORDS_FILE = Path(__file__).resolve().parents[2] / "prompts" / "console.yaml"
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LANG_COOKIE = "kefu_console_lang"

Translator = Callable[..., str]


@lru_cache(maxsize=1)
def words() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = yaml.safe_load(WORDS_FILE.read_text(encoding="utf-8"))
    return data


def language(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE, "")
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def translator(lang: str) -> Translator:
    table = words()

    def t(key: str, **values: Any) -> str:
        entry = table.get(key)
        text = entry.get(lang) or entry.get(DEFAULT_LANGUAGE) or key if entry else key
        return text.format(**values) if values else text

    return t
