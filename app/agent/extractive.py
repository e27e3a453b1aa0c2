"""The answer without an LLM (none configured, or it failed): quote the best passage, cited,
when retrieval is confident; otherwise say so and offer a human. Never invent anything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from knowledge.chunks import Hit

_TEMPLATES = {
    "zh": {
        "quote": "以下内容摘自《{source}》{where}，供您参考：\n\n{content}",
        "none": "抱歉，知识库里没有找到能准确回答这个问题的内容。需要的话我可以为您转接人工客服"
        "（服务时间 {hours}）。",
    },
    "en": {
        "quote": "From “{source}”{where}:\n\n{content}",
        "none": "Sorry, I couldn't find an answer to that in our documentation. I can connect "
        "you with a human agent if you like (available {hours}).",
    },
}


@dataclass(frozen=True)
class ExtractiveAnswer:
    text: str
    hit: Hit | None


def answer(
    hits: Sequence[Hit], *, lang: str, min_score: float, service_hours: str
) -> ExtractiveAnswer:
    t = _TEMPLATES["zh" if lang == "zh" else "en"]
    best = next((h for h in hits if (h.dense_score or 0.0) >= min_score), None)
    if best is None:
        return ExtractiveAnswer(t["none"].format(hours=service_hours), None)
    chunk = best.chunk
    heading = " > ".join(p for p in chunk.heading_path if p != "FAQ")
    where = f"（{heading}）" if heading and lang == "zh" else (f" ({heading})" if heading else "")
    body = chunk.content
    if chunk.kind == "faq" and chunk.question:
        body = f"{chunk.question}\n{chunk.content}"
    elif heading and body.startswith(heading):
        body = body[len(heading) :].lstrip("\n")  # the heading line is already in `where`
    text = t["quote"].format(source=chunk.source, where=where, content=body.strip())
    return ExtractiveAnswer(text, best)
