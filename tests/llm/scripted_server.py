"""A scripted OpenAI-protocol HTTP server on 127.0.0.1, for testing what kefu sends to and
makes of an LLM endpoint without a model.

Each test queues the replies the next chat-completion requests get, in order, and reads
back every request the server received. The server is real HTTP/1.1 over a real socket
(chunked SSE, ``Connection: close``), run by its own event loop in a daemon thread, so it
is independent of the test's loop and can misbehave in ways a mock cannot: stall before
the headers, stall before the first token, drop the connection mid-stream.

    with ScriptedServer() as server:
        server.script(Status(500), text_reply("Hello", " world"))
        settings = LLMSettings(base_url=server.base_url, model=server.model)
        ...
        assert server.requests[0].json["chat_template_kwargs"] == {"enable_thinking": False}

Reusable by any test that needs an LLM endpoint (``from tests.llm.scripted_server import
...``); ``tests/llm/conftest.py`` has a ``scripted_llm`` fixture.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class Status:
    """A plain (non-streamed) response, e.g. an error status with a JSON body."""

    status: int
    body: Any = None  # JSON-serialisable; None: an OpenAI-style error object
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stream:
    """A 200 SSE response: each event is a dict (sent as JSON) or a raw data string.

    ``headers_delay`` stalls before the status line, ``first_delay`` before the first
    event, ``delay`` between events. ``drop_after=n`` closes the connection after n events
    without ending the chunked body (a dropped stream). ``done`` appends ``data: [DONE]``.
    """

    events: list[dict[str, Any] | str]
    headers_delay: float = 0.0
    first_delay: float = 0.0
    delay: float = 0.0
    drop_after: int | None = None
    done: bool = True


@dataclass(frozen=True)
class Disconnect:
    """Read the request, then close the connection without answering."""


Reply = Status | Stream | Disconnect


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    """One ``chat.completion.chunk`` with a single choice."""
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def usage_chunk(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """The final usage chunk vLLM sends for ``stream_options.include_usage`` (no choices)."""
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "scripted",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def text_reply(
    *pieces: str,
    finish_reason: str = "stop",
    usage: tuple[int, int] | None = (11, 7),
    **stream_options: Any,
) -> Stream:
    """A streamed answer the way vLLM sends one: role chunk, content chunks, finish, usage."""
    events: list[dict[str, Any] | str] = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": piece}) for piece in pieces]
    events.append(chunk({}, finish_reason))
    if usage is not None:
        events.append(usage_chunk(*usage))
    return Stream(events, **stream_options)


def tool_call_delta(
    index: int,
    *,
    call_id: str | None = None,
    name: str | None = None,
    arguments: str | None = None,
) -> dict[str, Any]:
    """A chunk carrying one ``delta.tool_calls`` fragment."""
    fragment: dict[str, Any] = {"index": index}
    if call_id is not None:
        fragment["id"] = call_id
        fragment["type"] = "function"
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if arguments is not None:
        function["arguments"] = arguments
    if function:
        fragment["function"] = function
    return chunk({"tool_calls": [fragment]})


class ScriptedServer:
    def __init__(self, *, model: str = "scripted-model") -> None:
        self.model = model
        self.port = 0
        self.requests: list[Recorded] = []
        self.models_reply: Reply | None = None  # None: list ``model``
        self.in_flight = 0
        self.max_in_flight = 0
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == CHAT_PATH]

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next chat-completion requests, in order."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def unused_replies(self) -> int:
        with self._lock:
            return len(self._replies)

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> ScriptedServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="scripted-llm", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("the scripted LLM server did not start")

    def stop(self) -> None:
        """Stop serving (idempotent: a test may stop the endpoint mid-conversation)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown(server))
            loop.close()

    async def _shutdown(self, server: asyncio.Server) -> None:
        server.close()
        # Handlers still stalling (a scripted delay the client gave up on) end here.
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()

    # -- HTTP ----------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        slot = _InFlight(self)
        try:
            request = await self._read_request(reader)
            if request is None:
                return
            with self._lock:
                self.requests.append(request)
            if request.path == MODELS_PATH and request.method == "GET":
                reply = self.models_reply or Status(
                    200, {"object": "list", "data": [{"id": self.model, "object": "model"}]}
                )
                await self._answer(writer, reply, _InFlight(None))
            elif request.path == CHAT_PATH and request.method == "POST":
                with self._lock:
                    chat_reply = self._replies.popleft() if self._replies else None
                slot.take()
                fallback = Status(418, _error("nothing scripted for this request", 418))
                await self._answer(writer, chat_reply or fallback, slot)
            else:
                await self._answer(
                    writer, Status(404, _error(f"no route {request.path}", 404)), slot
                )
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: what a timeout or a cancelled stream does
        finally:
            slot.release()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._tasks.discard(task)

    async def _read_request(self, reader: asyncio.StreamReader) -> Recorded | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Recorded(method, path, headers, body)

    async def _answer(self, writer: asyncio.StreamWriter, reply: Reply, slot: _InFlight) -> None:
        if isinstance(reply, Status):
            await self._plain(writer, reply, slot)
        elif isinstance(reply, Stream):
            await self._stream(writer, reply, slot)
        # Disconnect: _handle closes the connection unanswered.

    async def _plain(self, writer: asyncio.StreamWriter, reply: Status, slot: _InFlight) -> None:
        body = reply.body if reply.body is not None else _error(f"status {reply.status}")
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        headers = {"content-type": "application/json", **reply.headers}
        slot.release()
        writer.write(_head(reply.status, {**headers, "content-length": str(len(data))}) + data)
        await writer.drain()

    async def _stream(self, writer: asyncio.StreamWriter, reply: Stream, slot: _InFlight) -> None:
        await asyncio.sleep(reply.headers_delay)
        writer.write(
            _head(200, {"content-type": "text/event-stream", "transfer-encoding": "chunked"})
        )
        await writer.drain()
        await asyncio.sleep(reply.first_delay)
        events = list(reply.events) + (["[DONE]"] if reply.done else [])
        for sent, event in enumerate(events):
            if reply.drop_after is not None and sent >= reply.drop_after:
                return  # _handle closes without the final chunk: a dropped stream
            if sent:
                await asyncio.sleep(reply.delay)
            data = event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)
            payload = f"data: {data}\n\n".encode()
            writer.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            await writer.drain()
        slot.release()
        writer.write(b"0\r\n\r\n")
        await writer.drain()


class _InFlight:
    """Counts one chat request as in flight, from its arrival until just before its
    response can complete (so a client that starts the next request the moment this one
    ends never sees a stale count)."""

    def __init__(self, server: ScriptedServer | None) -> None:
        self._server = server
        self._held = False

    def take(self) -> None:
        if self._server is None:
            return
        with self._server._lock:
            self._server.in_flight += 1
            self._server.max_in_flight = max(self._server.max_in_flight, self._server.in_flight)
        self._held = True

    def release(self) -> None:
        if self._server is None or not self._held:
            return
        self._held = False
        with self._server._lock:
            self._server.in_flight -= 1


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} Scripted", "connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _error(message: str, code: int = 500) -> dict[str, Any]:
    return {"error": {"message": message, "type": "ScriptedError", "code": code}}
