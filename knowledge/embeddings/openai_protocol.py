"""The served backend: an OpenAI-protocol ``POST {base}/embeddings`` endpoint.

vLLM serves one beside the LLM (``vllm serve Qwen/Qwen3-Embedding-0.6B --runner pooling``);
so do TEI, Infinity and OpenAI itself. The model's instruction prefixes are added here, not
by the server: the protocol has no notion of query and passage.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
from tenacity import (
    before_sleep_log,
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from app.core.errors import AppError
from knowledge.embeddings import Vectors, as_text_list

log = logging.getLogger(__name__)

_RETRIED_STATUS = {408, 429, 500, 502, 503, 504}
# The probe that learns the dimension when the setting leaves it out.
_PROBE = "dimension probe"


class EmbeddingError(AppError):
    """The endpoint did not give the vectors asked for. An AppError, so an admin request
    that needed an embedding answers with what went wrong instead of a bare 500."""

    status_code = 502
    code = "embedding_failed"


class EmbeddingUnavailable(EmbeddingError, ConnectionError):
    """Still down after the retries (network, timeout, 408/429/5xx). A ConnectionError, so
    ingestion treats it as transient and runs the job again later."""

    status_code = 503
    code = "embedding_unavailable"


class EmbeddingRejected(EmbeddingError):
    """Refused (another 4xx) or answered with something unusable: the same request again
    would fare no better."""


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in _RETRIED_STATUS
    return isinstance(exc, httpx.TransportError)


class OpenAIEmbedder:
    """Vectors from a served model, L2-normalised here whatever the server does.

    ``model_name`` is the served model's name, so a knowledge base records it and a switch of
    model (or of ``dim``) asks for a re-index. Batches of ``batch_size`` texts go one request
    each; a failed request (network, timeout, 408/429/5xx) is retried with jittered backoff,
    anything else (a 400 for an over-long text, a wrong dimension) fails at once.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dim: int | None = None,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 32,
        timeout: float = 30.0,
        max_retries: int = 3,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model_name = model
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        self._dim = dim
        self._dim_lock = threading.Lock()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        )
        self._post = retry(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(max_retries + 1),
            wait=wait_random_exponential(multiplier=0.2, max=5.0),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        )(self._post_once)

    @property
    def dim(self) -> int:
        if self._dim is None:
            with self._dim_lock:
                if self._dim is None:
                    self._dim = int(self._request([_PROBE]).shape[1])
        return self._dim

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._embed(as_text_list(texts), self.passage_prefix)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed(as_text_list(texts), self.query_prefix)

    def ping(self, timeout: float = 2.0) -> str:
        """One short embedding, no retries: for a readiness probe, which must answer fast."""
        resp = self._client.post(
            "embeddings", json={"model": self.model_name, "input": ["ping"]}, timeout=timeout
        )
        resp.raise_for_status()
        return f"{self.model_name} ({len(resp.json()['data'][0]['embedding'])}d)"

    def close(self) -> None:
        self._client.close()

    def _embed(self, texts: list[str], prefix: str) -> Vectors:
        dim = self.dim
        out = np.empty((len(texts), dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = [prefix + t for t in texts[start : start + self.batch_size]]
            vectors = self._request(batch)
            if vectors.shape[1] != dim:
                raise EmbeddingRejected(
                    f"{self.model_name} answered {vectors.shape[1]}-dimensional vectors, "
                    f"expected {dim} (KEFU_EMBEDDING_DIM)"
                )
            out[start : start + len(batch)] = vectors
        return out

    def _request(self, batch: list[str]) -> Vectors:
        try:
            data = self._post(
                {"model": self.model_name, "input": batch, "encoding_format": "float"}
            )
        except httpx.HTTPStatusError as exc:
            error = EmbeddingUnavailable if _retryable(exc) else EmbeddingRejected
            raise error(
                f"{exc.request.url} answered {exc.response.status_code}: {exc.response.text[:300]}"
            ) from exc
        except httpx.HTTPError as exc:
            raise EmbeddingUnavailable(
                f"{type(exc).__name__} from {self._client.base_url}embeddings: {exc}"
            ) from exc
        except ValueError as exc:  # a 200 whose body is not JSON
            raise EmbeddingRejected(f"not JSON from {self._client.base_url}") from exc
        try:
            items = sorted(data["data"], key=lambda item: item["index"])
            vectors = np.asarray([item["embedding"] for item in items], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbeddingRejected(f"not an embeddings response: {str(data)[:300]}") from exc
        if vectors.ndim != 2 or len(vectors) != len(batch):
            raise EmbeddingRejected(
                f"asked for {len(batch)} embeddings, got {len(items)} from {self.model_name}"
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

    def _post_once(self, body: dict[str, Any]) -> Any:
        resp = self._client.post("embeddings", json=body)
        resp.raise_for_status()
        return resp.json()
