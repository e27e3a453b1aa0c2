"""Authentication from the headers, before any route reads a body.

FastAPI reads and parses a request body before it runs a route's dependencies, so a key
checked by a dependency is checked too late: an unauthenticated caller can make the server
hold a large body first. This pure ASGI middleware answers 401/403 from the headers alone
for every route that takes a bearer key, and admin routes are refused to non-admin keys
before any path lookup (so nobody can probe which knowledge bases exist).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.dependencies import CHALLENGE, authenticate_secret, parse_bearer
from app.auth.models import ApiKey, Role
from app.core.errors import AppError, database_unavailable, error_body

log = logging.getLogger(__name__)

# Routes whose callers prove themselves otherwise: signed callbacks (WeChat, WeCom), Dify's
# own auth (which answers in Dify's envelope, also before the body), public pages.
_ADMIN = "/admin/"
_KEYED = ("/v1/", "/widget/api/", "/whoami")
_OPENAI = "/v1/"
UPLOAD_ROUTE = re.compile(r"^/admin/knowledge-bases/[^/]+/documents/?$")


IMAGE_ROUTES = ("/v1/chat/completions", "/widget/api/uploads")


def carries_images(scope: Scope) -> bool:
    """Routes whose bodies may hold images (each checked against its own image limits)."""
    return scope.get("method") == "POST" and scope.get("path", "").rstrip("/") in IMAGE_ROUTES


def is_upload(scope: Scope) -> bool:
    return scope.get("method") == "POST" and bool(UPLOAD_ROUTE.match(scope.get("path", "")))


class AuthGate:
    """401 for a missing or unknown key, 403 for a revoked one or a non-admin on /admin."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        admin = path.startswith(_ADMIN)
        if scope["type"] != "http" or not (admin or path.startswith(_KEYED)):
            await self.app(scope, receive, send)
            return
        if scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        try:
            secret = parse_bearer(header)
            runtime = scope["app"].state.runtime
            key: ApiKey = await run_in_threadpool(authenticate_secret, runtime, secret)
            if admin and key.role != Role.ADMIN:
                raise AppError(
                    f"this API key has role '{key.role.value}'; admin routes need admin",
                    code="forbidden",
                    status_code=403,
                )
        except AppError as exc:
            await _refuse(send, exc, openai=path.startswith(_OPENAI))
            return
        except Exception as exc:
            # Outside the app's exception handlers: a database outage must still be a 503.
            outage = database_unavailable(exc)
            if outage is None:
                raise
            log.warning("database unavailable for authentication: %s", type(exc).__name__)
            await _refuse(send, outage, openai=path.startswith(_OPENAI))
            return
        # The route's own dependency reuses it instead of asking the database again.
        scope.setdefault("state", {})["gate_key"] = key
        await self.app(scope, receive, send)


async def _refuse(send: Send, exc: AppError, *, openai: bool) -> None:
    body: dict[str, Any] = error_body(exc.code, exc.message, exc.details)
    if openai:
        kind = {401: "authentication_error", 403: "permission_error"}.get(exc.status_code)
        if exc.status_code >= 500:
            kind = "server_error"
        body["error"] |= {"type": kind or "invalid_request_error", "param": None}
    data = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        # The body was never read: the connection cannot be reused for another request.
        (b"connection", b"close"),
    ]
    extra = {**(exc.headers or {}), **(CHALLENGE if exc.status_code == 401 else {})}
    headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": data})
