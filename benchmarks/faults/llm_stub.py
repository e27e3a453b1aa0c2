"""A scripted OpenAI-protocol LLM for the fault harness, run as its own process on 127.0.0.1.

Every chat completion streams the same kind of answer with a set first-token latency and a
set rate (tokens per second). ``POST /_control {"mode": "ok" | "error" | "stall"}`` switches
behaviour: ``error`` answers HTTP 500, ``stall`` sends the headers and then nothing until the
client gives up (at most ``--stall-max`` seconds). ``GET /_stats`` returns counters, among
them the streams in flight (the harness kills an API worker while some are).

    python -m benchmarks.faults.llm_stub --port 8101 --first-token 0.4 --tps 40 --tokens 40
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from typing import Any

PIECES = [
    "根据",
    "我们",
    "的",
    "资料",
    "[1]",
    "，",
    "这个",
    "问题",
    "可以",
    "这样",
    "处理",
    "：",
    "请",
    "先",
    "在",
    "云帆App",
    "里",
    "查看",
    "相关",
    "说明",
    "，",
    "如",
    "仍有",
    "疑问",
    "，",
    "可以",
    "随时",
    "联系",
    "人工",
    "客服",
    "。",
]


class Stub:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.mode = "ok"
        self.stats: dict[str, Any] = {
            "requests": 0,
            "streams_ok": 0,
            "errors_500": 0,
            "stalls": 0,
            "in_flight": 0,
            "max_in_flight": 0,
            "client_gone": 0,
        }

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if path == "/_control" and method == "POST":
                self.mode = json.loads(body or b"{}").get("mode", "ok")
                await self._json(writer, 200, {"mode": self.mode})
            elif path == "/_stats":
                await self._json(writer, 200, {**self.stats, "mode": self.mode})
            elif path.endswith("/models"):
                await self._json(writer, 200, {"object": "list", "data": [{"id": "scripted"}]})
            elif path.endswith("/chat/completions") and method == "POST":
                self.stats["requests"] += 1
                await self._chat(reader, writer, json.loads(body or b"{}"))
            else:
                await self._json(writer, 404, {"error": {"message": "no route"}})
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.stats["client_gone"] += 1
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _json(self, writer: asyncio.StreamWriter, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        writer.write(
            f"HTTP/1.1 {status} X\r\nconnection: close\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n\r\n".encode()
            + data
        )
        await writer.drain()

    async def _chat(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: dict[str, Any]
    ) -> None:
        if self.mode == "error":
            self.stats["errors_500"] += 1
            await self._json(writer, 500, {"error": {"message": "scripted 500", "code": 500}})
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        await writer.drain()
        if self.mode == "stall":
            self.stats["stalls"] += 1
            # Nothing until the client hangs up (bounded).
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(reader.read(1), self.args.stall_max)
            return
        self.stats["in_flight"] += 1
        self.stats["max_in_flight"] = max(self.stats["max_in_flight"], self.stats["in_flight"])
        try:
            await self._stream(writer, req)
            self.stats["streams_ok"] += 1
        finally:
            self.stats["in_flight"] -= 1

    async def _stream(self, writer: asyncio.StreamWriter, req: dict[str, Any]) -> None:
        base = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0}
        base["model"] = str(req.get("model", "scripted"))

        async def send(obj: Any) -> None:
            data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
            payload = f"data: {data}\n\n".encode()
            writer.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            await writer.drain()

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        started = time.monotonic()
        await asyncio.sleep(self.args.first_token)
        await send(chunk({"role": "assistant", "content": ""}))
        n = self.args.tokens
        for i in range(n):
            # Paced against the clock, so a busy loop does not slow the set rate down.
            due = started + self.args.first_token + i / self.args.tps
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await send(chunk({"content": PIECES[i % len(PIECES)]}))
        await send(chunk({}, "stop"))
        usage = {"prompt_tokens": 200, "completion_tokens": n, "total_tokens": 200 + n}
        await send({**base, "choices": [], "usage": usage})
        await send("[DONE]")
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--first-token", type=float, default=0.4, help="seconds to the first token")
    p.add_argument("--tps", type=float, default=40.0, help="tokens per second")
    p.add_argument("--tokens", type=int, default=40, help="tokens per answer")
    p.add_argument("--stall-max", type=float, default=120.0)
    p.add_argument("--lifetime", type=float, default=1800.0, help="exit after this long")
    args = p.parse_args()
    stub = Stub(args)
    server = await asyncio.start_server(stub.handle, "127.0.0.1", args.port, backlog=512)
    async with server:
        await asyncio.sleep(args.lifetime)


if __name__ == "__main__":
    asyncio.run(main())
