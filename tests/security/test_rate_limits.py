"""Finding 5: limits per client IP (X-Forwarded-For believed only from trusted proxies), per
key and per visitor; 429 with Retry-After in the error envelope."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import Role
from app.core.ratelimit import RateLimiter, client_ip
from app.main import create_app
from app.runtime import Runtime
from tests.security.conftest import LiveServer, new_key

ORIGIN = {"X-Kefu-Origin": "https://shop.example"}


@pytest.fixture
def behind_proxy(runtime: Runtime) -> Iterator[str]:
    runtime.settings.limits.trusted_proxies = ["127.0.0.1/32"]
    with LiveServer(create_app(runtime=runtime)) as server:
        yield f"http://127.0.0.1:{server.port}"


def _history(http: httpx.Client, key: str, visitor: str, ip: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", "X-Kefu-Visitor": visitor, **ORIGIN}
    if ip:
        headers["X-Forwarded-For"] = ip
    return http.get("/widget/api/conversations/c-unknown/messages", headers=headers)


def test_rotating_visitor_ids_hits_the_ip_limit_and_real_visitors_carry_on(
    behind_proxy: str, runtime: Runtime, session_factory: sessionmaker[Session]
) -> None:
    key = new_key(session_factory, Role.CLIENT).secret
    per_ip = runtime.settings.limits.ip_rate_per_minute
    assert per_ip == 60  # the seeds' deployments
    with httpx.Client(base_url=behind_proxy, timeout=30) as http:
        codes = [
            _history(http, key, f"visitor-{i:04d}", ip="203.0.113.9").status_code
            for i in range(per_ip)
        ]
        assert set(codes) == {404}
        refused = _history(http, key, "visitor-fresh1", ip="203.0.113.9")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Another visitor of the same site, from another address: not locked out.
        assert _history(http, key, "visitor-real01", ip="198.51.100.7").status_code == 404
        # A client-written hop left of the proxy's own does not make a new client.
        spoofed = _history(http, key, "visitor-fresh2", ip="10.9.9.9, 203.0.113.9")
        assert spoofed.status_code == 429


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    key = new_key(session_factory, Role.CLIENT).secret
    codes = [
        client.get(
            "/widget/api/conversations/c-unknown/messages",
            headers={
                "Authorization": f"Bearer {key}",
                "X-Kefu-Visitor": f"visitor-{i:04d}",
                "X-Forwarded-For": f"192.0.2.{i % 250}",
                **ORIGIN,
            },
        ).status_code
        for i in range(61)
    ]
    assert codes[:60] == [404] * 60 and codes[60] == 429


def test_per_key_limit_answers_429_with_retry_after(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    key = new_key(session_factory, Role.CLIENT, rate_limit_per_minute=3).secret
    headers = {"Authorization": f"Bearer {key}"}
    codes = [client.get("/v1/models", headers=headers).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    last = client.get("/v1/models", headers=headers)
    assert last.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(last.headers["Retry-After"]) <= 60


def test_per_visitor_limit(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    site = ORIGIN["X-Kefu-Origin"]
    key = new_key(session_factory, Role.CLIENT, rate_limit_per_minute=2, allowed_origins=[site])

    def visitor() -> dict[str, str]:
        page = client.get("/widget/frame", params={"key": key.secret, "origin": site})
        token = re.search(r'data-visitor-token="([^"]+)"', page.text)
        assert token, page.text
        return {"Authorization": f"Bearer {key.secret}", "X-Kefu-Visitor-Token": token[1]}

    url = "/widget/api/conversations/c-unknown/messages"
    first = visitor() | ORIGIN
    assert [client.get(url, headers=first).status_code for _ in range(3)] == [404, 404, 429]
    assert client.get(url, headers=visitor() | ORIGIN).status_code == 404


def test_client_ip_walks_forwarded_for_through_trusted_proxies_only() -> None:
    trusted = ["10.0.0.0/8"]
    assert client_ip("203.0.113.1", "1.2.3.4", trusted) == "203.0.113.1"
    assert client_ip("10.0.0.5", "1.2.3.4, 198.51.100.2", trusted) == "198.51.100.2"
    assert client_ip("10.0.0.5", "198.51.100.2, 10.0.0.9", trusted) == "198.51.100.2"
    assert client_ip("10.0.0.5", None, trusted) == "10.0.0.5"


def test_in_process_limits_hold_under_concurrent_requests(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """In-process limits (no Redis, or Redis down) are counted from the threadpool: ``limits``'s
    memory storage restarts its expiry timer unlocked, and two requests at once could start
    the same timer twice ("threads can only be started once": a 500 during a Redis restart,
    and without Redis a failure taken for a Redis one)."""
    limiter = RateLimiter(None)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads interleave at every few bytecodes
    errors: list[str] = []
    together = threading.Barrier(16)

    def requests(n: int) -> None:
        for _ in range(300):
            try:
                together.wait(timeout=30)
                limiter.hit("ip", f"client-{n}", 10**6)
            except threading.BrokenBarrierError:
                return
            except Exception as exc:
                errors.append(repr(exc))
                together.abort()
                return
            if n == 0:
                time.sleep(0.012)  # the storage's expiry timer (10 ms) ends between rounds

    threads = [threading.Thread(target=requests, args=(n,)) for n in range(16)]
    with caplog.at_level("WARNING", logger="app.core.ratelimit"):
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
        finally:
            sys.setswitchinterval(switch)
    assert errors == []
    assert [r.getMessage() for r in caplog.records if r.name == "app.core.ratelimit"] == []
