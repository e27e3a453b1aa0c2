"""Bearer auth the way Dify expects it: every failure is a 403 with a Dify error code.

The shared ``require_role`` answers 401 envelopes, which Dify's registration probe would take
for success; this one reuses the same key store (``auth_service.authenticate``) and the same
per-key rate limit.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from app.auth import service as auth_service
from app.auth.models import ApiKey, Role
from app.core.db import session_scope
from app.dify.errors import AUTH_FAILED, INVALID_AUTH_HEADER, DifyError
from app.runtime import Runtime

ALLOWED_ROLES = frozenset({Role.DIFY, Role.ADMIN})


def _secret(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret or " " in secret:
        raise DifyError(
            403,
            INVALID_AUTH_HEADER,
            "Invalid Authorization header format. Expected 'Bearer <api-key>' format.",
        )
    return secret


def _authenticate(runtime: Runtime, secret: str) -> ApiKey:
    with session_scope(runtime.session_factory) as db_session:
        try:
            key = auth_service.authenticate(db_session=db_session, secret=secret)
        except (auth_service.InvalidKey, auth_service.RevokedKey) as exc:
            raise DifyError(403, AUTH_FAILED, f"Authorization failed: {exc}") from exc
        db_session.expunge(key)
        return key


async def dify_key(request: Request) -> ApiKey:
    """The caller's key, checked once per request: ``DifyRoute`` calls this before FastAPI
    reads the body, and the route's own dependency then gets the same key (and the rate
    limit counts the request once)."""
    known: ApiKey | None = getattr(request.state, "dify_key", None)
    if known is not None:
        return known
    runtime: Runtime = request.app.state.runtime
    key = await run_in_threadpool(_authenticate, runtime, _secret(request))
    if key.role not in ALLOWED_ROLES:
        raise DifyError(
            403,
            AUTH_FAILED,
            f"Authorization failed: this API key has role '{key.role.value}'; Dify routes need "
            "a 'dify' key (kefu keys create --role dify)",
        )
    limit = key.rate_limit_per_minute or runtime.settings.limits.default_rate_per_minute
    verdict = await run_in_threadpool(runtime.limiter.hit, "key", str(key.id), limit)
    if not verdict.allowed:
        raise DifyError(
            429,
            429,
            f"rate limit of {limit} requests per minute exceeded",
            headers={"Retry-After": str(verdict.retry_after)},
        )
    request.state.api_key = request.state.dify_key = key
    return key


DifyCaller = Annotated[ApiKey, Depends(dify_key)]
