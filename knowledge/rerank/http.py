"""A rerank API: ``POST {base}/rerank`` as vLLM, Jina and Cohere serve it.

Request ``{model, query, documents, top_n}``; response ``{results: [{index,
relevance_score}]}``, best first. vLLM serves it for cross-encoders and for Qwen3-Reranker
(``vllm serve Qwen/Qwen3-Reranker-0.6B --runner pooling`` with its ``hf_overrides``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import httpx

from knowledge.rerank import RerankError

Template = Literal["auto", "none", "qwen3"]

# Qwen3-Reranker judges "yes"/"no" after a chat prompt; vLLM's /rerank sends the texts as
# given, so they are wrapped here the way the model card and vLLM's example do.
_QWEN3_PREFIX = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query "
    'and the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
    "<|im_start|>user\n"
)
_QWEN3_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
QWEN3_INSTRUCTION = "Given a customer's question, retrieve passages that answer it"


def resolve_template(template: Template, model: str) -> Literal["none", "qwen3"]:
    if template != "auto":
        return template
    lowered = model.lower()
    return "qwen3" if "qwen3-reranker" in lowered or "qwen3_reranker" in lowered else "none"


class HttpReranker:
    """No retries: a search waits for the reranker only until its deadline, and the fused
    order is a good answer already; a retry would spend that time on a server in trouble."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 1.5,
        template: Template = "auto",
    ) -> None:
        self.model_name = model
        self.template = resolve_template(template, model)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/", headers=headers, timeout=timeout
        )

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        if not documents:
            return []
        texts = list(documents)
        if self.template == "qwen3":
            query = f"{_QWEN3_PREFIX}<Instruct>: {QWEN3_INSTRUCTION}\n<Query>: {query}\n"
            texts = [f"<Document>: {doc}{_QWEN3_SUFFIX}" for doc in texts]
        body = {"model": self.model_name, "query": query, "documents": texts, "top_n": len(texts)}
        try:
            resp = self._client.post("rerank", json=body)
            resp.raise_for_status()
            results = resp.json()["results"]
            scores = [math.nan] * len(documents)
            for item in results:
                scores[int(item["index"])] = float(item["relevance_score"])
        except httpx.HTTPStatusError as exc:
            raise RerankError(
                f"{exc.request.url} answered {exc.response.status_code}: {exc.response.text[:300]}"
            ) from exc
        except httpx.HTTPError as exc:
            raise RerankError(f"{type(exc).__name__} from {self._client.base_url}rerank") from exc
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise RerankError(f"not a rerank response: {resp.text[:300]}") from exc
        if any(math.isnan(s) for s in scores):
            raise RerankError(f"the reranker scored {len(results)} of {len(documents)} documents")
        return scores

    def close(self) -> None:
        self._client.close()
