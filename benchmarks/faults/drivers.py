"""Customers on three channels (``/v1/chat/completions``, the web widget, WeChat safe mode)
and a stand-in for Tencent's customer-service API, each behaving as its real client does:

- /v1 and the widget resend a message with the same ``client_message_id`` when the stream
  breaks, an HTTP 5xx or 429 comes back, or the stream ends in an error event (bounded);
- WeChat waits 5 s for a callback's answer and retries the same ``MsgId`` up to three times
  in all; an answer it did not get passively must come through ``custom/send``.

Every attempt's outcome is recorded (status, error kind), and each message's final outcome:
``answered`` (an answer reached the customer), ``apologised`` (an explicit apology did),
``failed`` (nothing did).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

APOLOGY_MARKS = (
    "抱歉，系统暂时",  # the failed/unsaved turn and the Tencent channels' apology
    "Sorry, something went wrong",
    "Sorry, our system is busy",
)


def is_apology(text: str) -> bool:
    return any(mark in text for mark in APOLOGY_MARKS)


@dataclass
class Attempt:
    started: float
    ended: float = 0.0
    status: int | None = None  # HTTP status, None when no response came
    kind: str = "ok"  # ok | transport | timeout | http_<status> | sse_<code> | incomplete


@dataclass
class Msg:
    channel: str
    conv: int
    turn: int
    cmid: str
    text: str
    started: float = 0.0
    first_token: float | None = None
    ended: float = 0.0
    outcome: str = "pending"  # answered | apologised | failed
    answer: str = ""
    deliveries: int = 0  # WeChat: passive replies + sends that reached the customer
    attempts: list[Attempt] = field(default_factory=list)
    conversation_id: str | None = None
    user: str = ""  # WeChat: the openid
    passive: bool = False  # WeChat: answered in the callback's own reply
    late: bool = False  # WeChat: its answer came after the customer's next message

    @property
    def latency(self) -> float:
        return self.ended - self.started


class Backoff:
    DELAYS = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0)


def _sse_lines(buf: str) -> tuple[list[str], str]:
    *events, rest = buf.split("\n\n")
    return events, rest


async def v1_turn(
    client: httpx.AsyncClient, base: str, key: str, user: str, msg: Msg, retries: int
) -> None:
    body: dict[str, Any] = {
        "model": "kefu",
        "messages": [{"role": "user", "content": msg.text}],
        "stream": True,
        "user": user,
        "client_message_id": msg.cmid,
    }
    headers = {"Authorization": f"Bearer {key}"}
    for attempt_no in range(retries):
        att = Attempt(time.monotonic())
        msg.attempts.append(att)
        text, finished, error = "", False, None
        try:
            async with client.stream(
                "POST", f"{base}/v1/chat/completions", json=body, headers=headers
            ) as resp:
                att.status = resp.status_code
                if resp.status_code != 200:
                    raw = await resp.aread()
                    att.kind = f"http_{resp.status_code}"
                    error = raw.decode(errors="replace")[:200]
                else:
                    buf = ""
                    async for part in resp.aiter_text():
                        buf += part
                        events, buf = _sse_lines(buf)
                        for ev in events:
                            for line in ev.split("\n"):
                                if not line.startswith("data: "):
                                    continue
                                data = line[6:]
                                if data == "[DONE]":
                                    continue
                                obj = json.loads(data)
                                if "error" in obj:
                                    error = obj["error"].get("code") or "error"
                                    att.kind = f"sse_{error}"
                                    text += obj["error"].get("message", "")
                                    continue
                                for ch in obj.get("choices", []):
                                    piece = ch.get("delta", {}).get("content") or ""
                                    if piece and msg.first_token is None:
                                        msg.first_token = time.monotonic()
                                    text += piece
                                    if ch.get("finish_reason") == "stop":
                                        finished = True
                                        msg.conversation_id = (obj.get("kefu") or {}).get(
                                            "conversation_id"
                                        )
                    if not finished and error is None:
                        att.kind = "incomplete"
        except httpx.TimeoutException:
            att.kind = "timeout"
        except (httpx.TransportError, httpx.StreamError):
            att.kind = "transport"
        att.ended = time.monotonic()
        if finished:
            msg.answer = text
            msg.outcome = "apologised" if is_apology(text) else "answered"
            return
        if att.kind.startswith("sse_") and is_apology(text):
            msg.answer = text  # shown to the customer; retried as they would
            msg.outcome = "apologised"
        if att.status is not None and 400 <= att.status < 500 and att.status != 429:
            break  # refused: a resend would be refused too
        await asyncio.sleep(Backoff.DELAYS[min(attempt_no, len(Backoff.DELAYS) - 1)])
    if msg.outcome == "pending":
        msg.outcome = "failed"


async def widget_turn(
    client: httpx.AsyncClient,
    base: str,
    key: str,
    origin: str,
    visitor: str,
    state: dict[str, Any],
    msg: Msg,
    retries: int,
) -> None:
    headers = {
        "Authorization": f"Bearer {key}",
        "X-Kefu-Origin": origin,
        "X-Kefu-Visitor": visitor,
    }
    for attempt_no in range(retries):
        # The server binds an anonymous conversation to the visitor token it issued on the
        # first message (finding 11): later messages must carry it.
        if state.get("visitor_token"):
            headers["X-Kefu-Visitor-Token"] = state["visitor_token"]
        body = {
            "text": msg.text,
            "client_message_id": msg.cmid,
            "visitor_id": visitor,
            "conversation_id": state.get("conversation_id"),
        }
        att = Attempt(time.monotonic())
        msg.attempts.append(att)
        text, done, error = "", False, None
        try:
            async with client.stream(
                "POST", f"{base}/widget/api/messages", json=body, headers=headers
            ) as resp:
                att.status = resp.status_code
                if resp.headers.get("x-kefu-visitor-token"):
                    state["visitor_token"] = resp.headers["x-kefu-visitor-token"]
                if resp.status_code != 200:
                    await resp.aread()
                    att.kind = f"http_{resp.status_code}"
                else:
                    buf = ""
                    async for part in resp.aiter_text():
                        buf += part
                        events, buf = _sse_lines(buf)
                        for ev in events:
                            name, data = None, None
                            for line in ev.split("\n"):
                                if line.startswith("event: "):
                                    name = line[7:]
                                elif line.startswith("data: "):
                                    data = json.loads(line[6:])
                            if name == "delta" and data:
                                if msg.first_token is None:
                                    msg.first_token = time.monotonic()
                                text += data.get("text", "")
                            elif name == "done" and data:
                                done = True
                                state["conversation_id"] = data.get("conversation_id")
                                msg.conversation_id = state["conversation_id"]
                            elif name == "error" and data:
                                error = data.get("code") or "error"
                                att.kind = f"sse_{error}"
                                text += data.get("message", "")
                    if not done and error is None:
                        att.kind = "incomplete"
        except httpx.TimeoutException:
            att.kind = "timeout"
        except (httpx.TransportError, httpx.StreamError):
            att.kind = "transport"
        att.ended = time.monotonic()
        if done:
            msg.answer = text
            msg.outcome = "apologised" if is_apology(text) else "answered"
            return
        if error is not None and is_apology(text):
            msg.answer, msg.outcome = text, "apologised"
        if att.status is not None and 400 <= att.status < 500 and att.status != 429:
            break
        await asyncio.sleep(Backoff.DELAYS[min(attempt_no, len(Backoff.DELAYS) - 1)])
    if msg.outcome == "pending":
        msg.outcome = "failed"
