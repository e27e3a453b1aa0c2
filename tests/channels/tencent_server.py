"""A scripted stand-in for Tencent's APIs (WeChat ``api.weixin.qq.com`` and WeCom
``qyapi.weixin.qq.com``) on a real socket at 127.0.0.1, recording what kefu sends.

Tokens are issued as ``tok-1``, ``tok-2``...; only the latest is valid, so ``revoke()`` makes
the next send fail with errcode 40001 the way Tencent does when a token is invalidated
elsewhere (``revoke(42001)``: the way it refuses an expired one). ``fail_next(...)`` queues
plain failures (an HTTP status or an errcode) for the next sends; ``kf_pages`` queues
``sync_msg`` answers; ``media`` holds the files ``cgi-bin/media/get`` serves by media id
(an unknown id gets errcode 40007, as from Tencent).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN_PATHS = {"/cgi-bin/token", "/cgi-bin/gettoken"}
SEND_PATHS = {"/cgi-bin/message/custom/send", "/cgi-bin/message/send", "/cgi-bin/kf/send_msg"}
SYNC_PATH = "/cgi-bin/kf/sync_msg"
MEDIA_PATH = "/cgi-bin/media/get"


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    result: int = 0  # 0 when it succeeded, else the errcode or HTTP status returned


class TencentServer:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.kf_pages: deque[dict[str, Any]] = deque()
        self.media: dict[str, bytes] = {}
        self._failures: deque[int | tuple[str, int]] = deque()
        self._issued = 0
        self._valid: str | None = None
        self._refusals: dict[str, int] = {}  # a revoked token → the errcode it now gets
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return None

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def _serve(self, method: str) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                body = json.loads(raw) if raw else None
                status, reply = server._answer(Call(method, url.path, query, body))
                kind = "application/json"
                if isinstance(reply, bytes):
                    data, kind = reply, "image/jpeg"
                else:
                    data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> TencentServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- scripting ---------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.kf_pages.clear()
            self.media.clear()
            self._failures.clear()

    def revoke(self, errcode: int = 40001) -> None:
        """Invalidate the current token: 40001 as a token fetched elsewhere does, 42001 as
        its expiry does."""
        with self._lock:
            if self._valid is not None:
                self._refusals[self._valid] = errcode
            self._valid = None

    def fail_next(self, *failures: int | tuple[str, int]) -> None:
        """Queue failures for the next sends: an HTTP status, or ("errcode", n)."""
        with self._lock:
            self._failures.extend(failures)

    # -- reading -----------------------------------------------------------------------

    def sends(self, path: str | None = None) -> list[Call]:
        """Every send attempt, failed ones included."""
        with self._lock:
            return [c for c in self.calls if c.path in SEND_PATHS and path in (None, c.path)]

    def delivered(self, path: str | None = None) -> list[Call]:
        """The sends that succeeded."""
        return [c for c in self.sends(path) if c.result == 0]

    @property
    def token_fetches(self) -> int:
        with self._lock:
            return sum(1 for c in self.calls if c.path in TOKEN_PATHS)

    def wait_for(self, check: Callable[[], bool], *, timeout: float = 20, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")

    # -- behaviour ---------------------------------------------------------------------

    def _answer(self, call: Call) -> tuple[int, dict[str, Any] | bytes]:
        with self._lock:
            status, reply = self._reply(call)
            errcode = 0 if isinstance(reply, bytes) else int(reply.get("errcode") or 0)
            result = status if status != 200 else errcode
            self.calls.append(dataclasses.replace(call, result=result))
            return status, reply

    def _reply(self, call: Call) -> tuple[int, dict[str, Any] | bytes]:
        """Called with the lock held."""
        if call.path == MEDIA_PATH:
            if call.query.get("access_token", "") != self._valid:
                return 200, {"errcode": 40001, "errmsg": "invalid credential"}
            found = self.media.get(call.query.get("media_id", ""))
            return (
                (200, found) if found else (200, {"errcode": 40007, "errmsg": "invalid media_id"})
            )
        if call.path in TOKEN_PATHS:
            if not (call.query.get("secret") or call.query.get("corpsecret")):
                return 200, {"errcode": 40125, "errmsg": "invalid appsecret"}
            self._issued += 1
            self._valid = f"tok-{self._issued}"
            return 200, {"access_token": self._valid, "expires_in": 7200}
        if call.path in SEND_PATHS or call.path == SYNC_PATH:
            token = call.query.get("access_token", "")
            if token != self._valid:
                errcode = self._refusals.get(token, 40001)
                return 200, {"errcode": errcode, "errmsg": "invalid or expired access_token"}
            if call.path == SYNC_PATH:
                page = self.kf_pages.popleft() if self.kf_pages else {}
                return 200, {
                    "errcode": 0,
                    "next_cursor": "",
                    "has_more": 0,
                    "msg_list": [],
                } | page
            if self._failures:
                failure = self._failures.popleft()
                if isinstance(failure, tuple):
                    return 200, {"errcode": failure[1], "errmsg": "scripted failure"}
                return failure, {"errcode": -1, "errmsg": "scripted HTTP failure"}
            return 200, {"errcode": 0, "errmsg": "ok"}
        return 404, {"errcode": 404, "errmsg": f"no route {call.path}"}
