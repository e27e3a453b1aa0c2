"""Errors in the body Dify reads: ``{"error_code": int, "error_msg": str}``.

Dify's External Knowledge API documents 1001 (malformed Authorization header), 1002
(authorization failed) and 2001 (knowledge base does not exist). Its registration probe
(``ExternalDatasetService.check_endpoint_and_api_key``) posts without a body and fails only
on 403, 404 and 502, so an unauthenticated caller must get 403 (a 401 would pass the probe)
and an authenticated probe must get neither 403 nor 404: an empty body is a 422.

Every route under ``/dify`` answers in this format (``app.dify.route.DifyRoute``), so Dify
shows the message instead of an envelope it cannot read. Codes other than Dify's three are
the HTTP status.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.errors import AppError, database_unavailable

log = logging.getLogger(__name__)

INVALID_AUTH_HEADER = 1001
AUTH_FAILED = 1002
KNOWLEDGE_NOT_FOUND = 2001


class DifyError(Exception):
    def __init__(
        self,
        status_code: int,
        error_code: int,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code
        self.message = message
        self.details = details
        self.headers = headers


def dify_response(exc: DifyError) -> JSONResponse:
    body: dict[str, Any] = {"error_code": exc.error_code, "error_msg": exc.message}
    if exc.details is not None:
        body["details"] = exc.details
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def _validation(exc: RequestValidationError | ValidationError) -> DifyError:
    details = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    first = details[0] if details else None
    where = ".".join(str(p) for p in first["loc"]) if first else ""
    message = f"invalid request: {where}: {first['msg']}" if first else "invalid request"
    return DifyError(422, 422, message, details=details)


def as_dify_error(exc: Exception) -> DifyError | None:
    if isinstance(exc, DifyError):
        return exc
    if isinstance(exc, RequestValidationError | ValidationError):
        return _validation(exc)  # a ValidationError: an extension point's params
    if isinstance(exc, AppError):
        return DifyError(
            exc.status_code, exc.status_code, exc.message, details=exc.details, headers=exc.headers
        )
    outage = database_unavailable(exc)
    if outage is not None:
        return DifyError(503, 503, outage.message, headers=outage.headers)
    if isinstance(exc, StarletteHTTPException):
        headers = dict(exc.headers) if exc.headers else None
        return DifyError(exc.status_code, exc.status_code, str(exc.detail), headers=headers)
    return None
