"""The agent's prompt templates (prompts/agent.yaml), rendered with the turn's facts.

Passages are numbered in the order given; the model cites them as [n] and
``app.agent.citations`` maps the numbers back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from app.routing.rules import PROMPTS_DIR
from knowledge.chunks import Chunk

DEFAULT_PROMPTS = PROMPTS_DIR / "agent.yaml"
_WEEKDAYS_ZH = "一二三四五六日"
# Passages are quoted whole up to this many characters each: chunks are ~300 tokens, so the
# cap only bites on oversized tables.
PASSAGE_CHARS = 1500


@dataclass(frozen=True)
class Prompts:
    version: str
    raw: dict[str, Any]

    def _lang(self, key: str, lang: str) -> Any:
        return self.raw[key]["zh" if lang == "zh" else "en"]

    def system(
        self,
        *,
        lang: str,
        company: str,
        bot: str,
        now: datetime,
        hours: str,
        logged_in: bool,
        summary: str,
        passages: Sequence[Chunk],
    ) -> str:
        login = self._lang("login", lang)["known" if logged_in else "anonymous"]
        summary_block = self._lang("summary", lang).format(text=summary) if summary else ""
        return str(
            self._lang("system", lang).format(
                company=company,
                bot=bot,
                now=format_now(now, lang),
                hours=hours,
                login=login,
                summary=summary_block,
                passages=self.passages(passages, lang=lang),
            )
        ).strip()

    def passages(self, chunks: Sequence[Chunk], *, lang: str) -> str:
        if not chunks:
            return str(self._lang("no_passages", lang))
        return "\n\n".join(_passage(n, chunk) for n, chunk in enumerate(chunks, start=1))

    def condense(self, *, history: Sequence[tuple[str, str]], question: str) -> str:
        lines = "\n".join(f"{role}: {content}" for role, content in history)
        return str(self.raw["condense"]).format(history=lines, question=question)

    def summarize(self, *, summary: str, turns: Sequence[tuple[str, str]]) -> str:
        lines = "\n".join(f"{role}: {content}" for role, content in turns)
        return str(self.raw["summarize"]).format(summary=summary or "(none)", turns=lines)

    def interrupted(self, lang: str) -> str:
        return str(self._lang("interrupted", lang))

    def handoff_notice(self, lang: str, *, hours: str) -> str:
        return str(self._lang("handoff_notice", lang)).format(hours=hours)

    def failed(self, lang: str, *, hours: str) -> str:
        return str(self._lang("failed", lang)).format(hours=hours)

    def unsaved(self, lang: str) -> str:
        return str(self._lang("unsaved", lang))


def _passage(n: int, chunk: Chunk) -> str:
    where = " > ".join(p for p in chunk.heading_path if p)
    title = f"[{n}] {chunk.source}" + (f" — {where}" if where else "")
    body = chunk.content
    if chunk.kind == "faq" and chunk.question:
        body = f"Q: {chunk.question}\nA: {chunk.content}"
    if len(body) > PASSAGE_CHARS:
        body = body[:PASSAGE_CHARS] + "…"
    return f"{title}\n{body}"


def format_now(now: datetime, lang: str) -> str:
    if lang == "zh":
        return f"{now:%Y年%m月%d日} 星期{_WEEKDAYS_ZH[now.weekday()]} {now:%H:%M}"
    return f"{now:%A, %d %B %Y, %H:%M}"


@lru_cache(maxsize=4)
def load(path: Path = DEFAULT_PROMPTS) -> Prompts:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Prompts(version=str(raw["version"]), raw=raw)
