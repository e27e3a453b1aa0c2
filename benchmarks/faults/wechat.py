"""WeChat as the harness's customers meet it: a stand-in for Tencent's customer-service API
(``custom/send``, token) and a WeChat user in safe mode, who waits 5 s for a callback's
answer and retries the same ``MsgId`` up to three times in all; an answer not given passively
must arrive through ``custom/send``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.channels.tencent import payload
from app.channels.tencent.crypto import MsgCrypt
from benchmarks.faults.drivers import Attempt, Msg, is_apology


class TencentStub:
    """``api.weixin.qq.com`` on 127.0.0.1: any token it issued stays valid (as Tencent keeps
    the previous one valid for minutes), every ``custom/send`` is recorded per openid."""

    def __init__(self) -> None:
        self.sends: dict[str, list[tuple[float, str]]] = {}
        self.token_fetches = 0
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return None

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                url = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                if url.path == "/cgi-bin/token":
                    with stub.lock:
                        stub.token_fetches += 1
                    reply: dict[str, Any] = {"access_token": "tok", "expires_in": 7200}
                elif url.path == "/cgi-bin/message/custom/send":
                    body = json.loads(raw or b"{}")
                    with stub.lock:
                        stub.sends.setdefault(body.get("touser", ""), []).append(
                            (time.monotonic(), body.get("text", {}).get("content", ""))
                        )
                    reply = {"errcode": 0, "errmsg": "ok"}
                else:
                    reply = {"errcode": 404, "errmsg": "no route"}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def sent_to(self, openid: str) -> list[tuple[float, str]]:
        with self.lock:
            return list(self.sends.get(openid, []))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


WECHAT_TIMEOUT = 5.0  # WeChat waits 5 s for a callback, then retries (three tries in all)
WECHAT_TRIES = 3


async def wechat_turn(
    client: httpx.AsyncClient,
    base: str,
    crypt: MsgCrypt,
    stub: TencentStub,
    openid: str,
    msg: Msg,
    send_wait: float,
) -> None:
    fields: dict[str, str | int] = {
        "ToUserName": "gh_kefu",
        "FromUserName": openid,
        "CreateTime": int(time.time()),
        "MsgType": "text",
        "Content": msg.text,
        "MsgId": msg.cmid,
    }
    xml = payload.render(fields)
    sends_before = len(stub.sent_to(openid))
    passive: str | None = None
    answered_call = False
    for _ in range(WECHAT_TRIES):
        ts, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
        encrypted, sig = crypt.seal(xml, timestamp=ts, nonce=nonce)
        body = payload.render({"ToUserName": "gh_kefu", "Encrypt": encrypted})
        params = {"encrypt_type": "aes", "msg_signature": sig, "timestamp": ts, "nonce": nonce}
        att = Attempt(time.monotonic())
        msg.attempts.append(att)
        try:
            resp = await client.post(
                f"{base}/channels/wechat",
                params=params,
                content=body.encode(),
                headers={"Content-Type": "text/xml"},
                timeout=WECHAT_TIMEOUT,
            )
            att.status = resp.status_code
            if resp.status_code == 200:
                answered_call = True
                if resp.content.strip() not in (b"", b"success"):
                    outer = payload.parse(resp.content)
                    plain = crypt.open(
                        outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"], outer["Encrypt"]
                    )
                    passive = payload.parse(plain.encode()).get("Content", "")
            else:
                att.kind = f"http_{resp.status_code}"
        except httpx.TimeoutException:
            att.kind = "timeout"
        except httpx.TransportError:
            att.kind = "transport"
        att.ended = time.monotonic()
        if answered_call:
            break
    msg.user = openid
    if passive is not None:
        msg.first_token = time.monotonic()
        msg.answer = passive
        msg.passive = True
        msg.deliveries = 1
    # Anything not answered passively must come through custom/send (also after three
    # failed tries: the message may have been stored and answered in the background).
    deadline = time.monotonic() + (send_wait if passive is None else 2.0)
    while time.monotonic() < deadline:
        sent = stub.sent_to(openid)[sends_before:]
        if passive is None and sent:
            msg.first_token = msg.first_token or sent[0][0]
            msg.answer = sent[0][1]
            break
        await asyncio.sleep(0.2)
    # Extra sends for this message (a duplicate) land within a short grace period.
    await asyncio.sleep(1.0)
    sent = stub.sent_to(openid)[sends_before:]
    msg.deliveries = (1 if passive is not None else 0) + len(sent)
    if msg.answer:
        msg.outcome = "apologised" if is_apology(msg.answer) else "answered"
    else:
        msg.outcome = "failed"


def reconcile_wechat(msgs: list[Msg], stub: TencentStub) -> dict[str, int]:
    """Every ``custom/send`` of the run, given to the message it answers: a send goes to the
    newest message of its customer sent before it; a message that got nothing in its window
    is owed, and a later window's extra send pays the oldest debt (a late answer, not a lost
    one and a duplicate). What is left: owed = lost, extra = duplicated."""
    users: dict[str, list[Msg]] = {}
    for m in msgs:
        if m.channel == "wechat" and m.user:
            users.setdefault(m.user, []).append(m)
    late = 0
    for user, ms in users.items():
        ms.sort(key=lambda m: m.started)
        counts = [0] * len(ms)
        for t, _ in stub.sent_to(user):
            i = max([k for k, m in enumerate(ms) if m.started <= t] or [0])
            counts[i] += 1
        owed: list[Msg] = []
        for m, c in zip(ms, counts, strict=True):
            got = c + int(m.passive)
            if got == 0:
                m.deliveries = 0
                owed.append(m)
                continue
            m.deliveries = 1
            for _ in range(got - 1):
                if owed:
                    debtor = owed.pop(0)
                    debtor.deliveries, debtor.late = 1, True
                    if debtor.outcome == "failed":
                        debtor.outcome = "answered"
                    late += 1
                else:
                    m.deliveries += 1
    return {"late_answers": late}
