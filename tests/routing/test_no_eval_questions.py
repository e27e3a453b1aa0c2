"""No question of the labelled eval sets may be written into rules, prompts or code.

A router that memorises the dev sets' wording scores well on them and badly everywhere else;
the rules must generalise. Compared after folding case, width and punctuation away, as the
questions would have to be matched by anything that copied them.
"""

from __future__ import annotations

import json
import re
import unicodedata

import pytest

from tests.conftest import DEV_SET, ROOT

EVAL_DIR = DEV_SET.parent
SCANNED = ("prompts", "app", "ingestion", "knowledge", "tests", "benchmarks", "scripts")
SUFFIXES = {".py", ".yaml", ".yml", ".txt", ".json", ".jsonl", ".csv", ".js", ".html", ".sh"}
MIN_LENGTH = 6


def _fold(text: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).lower())


def _eval_questions() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(EVAL_DIR.glob("*/questions.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                question = str(json.loads(line)["question"])
                if len(_fold(question)) >= MIN_LENGTH:
                    found[_fold(question)] = question
    return found


@pytest.mark.skipif(
    not any(EVAL_DIR.glob("*/questions.jsonl")), reason="shared/eval is not beside the clone"
)
def test_no_eval_question_is_copied_into_rules_or_code() -> None:
    questions = _eval_questions()
    assert len(questions) > 100  # both dev sets were read
    copies = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in SUFFIXES or not path.is_file() or ".venv" in path.parts:
                continue
            text = _fold(path.read_text(encoding="utf-8", errors="ignore"))
            copies += [f"{path.relative_to(ROOT)}: {q}" for f, q in questions.items() if f in text]
    assert copies == []
