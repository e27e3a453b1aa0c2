from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.auth.dependencies import authenticate_secret, parse_bearer
from app.auth.models import Role
from app.health import service

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Every component this process needs, each reported")
async def readyz(request: Request) -> JSONResponse:
    runtime = request.app.state.runtime
    checks = await service.readiness(runtime, request.app.state.warmup)
    down = [c.name for c in checks if c.required and c.state == "down"]
    starting = any(c.state == "starting" for c in checks)
    status = "unavailable" if down else "starting" if starting else "ready"
    # Error strings name hosts, ports and users: for operators (an admin key), not anyone.
    hidden = {"name"} if await _is_admin(request) else {"name", "detail"}
    body: dict[str, Any] = {
        "status": status,
        "components": {
            c.name: {k: v for k, v in asdict(c).items() if k not in hidden} for c in checks
        },
    }
    return JSONResponse(body, status_code=200 if status == "ready" else 503)


async def _is_admin(request: Request) -> bool:
    header = request.headers.get("authorization")
    if not header:
        return False
    try:
        secret = parse_bearer(header)
        key = await run_in_threadpool(authenticate_secret, request.app.state.runtime, secret)
    except Exception:  # a probe must answer even when the key store is down
        return False
    return bool(key.role == Role.ADMIN)
