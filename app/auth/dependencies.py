"""Bearer auth: 401 for a missing, malformed or unknown key; 403 for revoked or wrong role."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from app.auth import service as auth_service
from app.auth.models import ApiKey, Role
from app.core.db import session_scope
from app.core.errors import AppError, Forbidden, Unauthorized
from app.runtime import Runtime

CHALLENGE = {"WWW-Authenticate": "Bearer"}


def bearer_secret(request: Request) -> str:
    return parse_bearer(request.headers.get("authorization", ""))


def parse_bearer(header: str) -> str:
    if not header:
        raise Unauthorized("missing Authorization header", headers=CHALLENGE)
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret or " " in secret:
        raise Unauthorized(
            "malformed Authorization header: expected 'Bearer <key>'", headers=CHALLENGE
        )
    return secret


def authenticate_secret(runtime: Runtime, secret: str) -> ApiKey:
    """The key behind a bearer secret; 401 unknown, 403 revoked. Blocking."""
    with session_scope(runtime.session_factory) as db_session:
        try:
            key = auth_service.authenticate(db_session=db_session, secret=secret)
        except auth_service.InvalidKey as exc:
            raise Unauthorized(str(exc), headers=CHALLENGE) from exc
        except auth_service.RevokedKey as exc:
            raise Forbidden(str(exc)) from exc
        db_session.expunge(key)
        return key


def still_active(runtime: Runtime, key_id: int) -> bool:
    """Whether a key a long-lived response was opened with is still good (not revoked since,
    not deleted). Blocking."""
    with session_scope(runtime.session_factory) as db_session:
        key = auth_service.get(db_session=db_session, key_id=key_id)
        return key is not None and not key.revoked


def require_role(*roles: Role) -> Callable[[Request], Coroutine[Any, Any, ApiKey]]:
    """A dependency admitting keys of the given roles (admin keys are admitted everywhere)."""
    allowed = {*roles, Role.ADMIN}

    async def dependency(request: Request) -> ApiKey:
        runtime: Runtime = request.app.state.runtime
        key: ApiKey | None = request.scope.get("state", {}).get("gate_key")
        if key is None:
            key = await run_in_threadpool(authenticate_secret, runtime, bearer_secret(request))
        if key.role not in allowed:
            raise Forbidden(
                f"this API key has role '{key.role.value}'; this route needs "
                + " or ".join(sorted(r.value for r in allowed))
            )
        limit = key.rate_limit_per_minute or runtime.settings.limits.default_rate_per_minute
        verdict = await run_in_threadpool(runtime.limiter.hit, "key", str(key.id), limit)
        if not verdict.allowed:
            raise AppError(
                f"rate limit of {limit} requests per minute exceeded",
                code="rate_limited",
                status_code=429,
                headers={"Retry-After": str(verdict.retry_after)},
            )
        request.state.api_key = key
        return key

    return dependency
