from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.health import service

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Every component this process needs, each reported")
async def readyz(request: Request) -> JSONResponse:
    checks = await service.readiness(request.app.state.runtime, request.app.state.warmup)
    down = [c.name for c in checks if c.required and c.state == "down"]
    starting = any(c.state == "starting" for c in checks)
    status = "unavailable" if down else "starting" if starting else "ready"
    body: dict[str, Any] = {
        "status": status,
        "components": {c.name: {k: v for k, v in asdict(c).items() if k != "name"} for c in checks},
    }
    return JSONResponse(body, status_code=200 if status == "ready" else 503)
