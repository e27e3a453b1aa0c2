"""One error envelope for every 4xx and 5xx: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import errno
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class AppError(Exception):
    """An error a client can act on; carries its HTTP status and a stable code."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        code: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


class Unprocessable(AppError):
    status_code = 422
    code = "unprocessable"


# Seconds a client should wait before retrying after an outage of the database: a restart or
# failover takes seconds, and an earlier retry only adds load to a pool that is reconnecting.
DATABASE_RETRY_AFTER = 3


def database_unavailable(exc: BaseException) -> AppError | None:
    """A 503 when ``exc`` is the database being unreachable (refused, dropped, restarting, the
    pool exhausted waiting for it); None for any other error, a bug or a constraint, which
    stays a 500 or its own answer. Every layer that turns errors into answers asks this."""
    if isinstance(exc, AppError):
        return exc if exc.status_code == 503 else None
    outage = isinstance(exc, OperationalError | PoolTimeout) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )
    if not outage:
        return None
    return AppError(
        "the service is temporarily unavailable; please retry shortly",
        code="unavailable",
        status_code=503,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
    )


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    details = None if isinstance(exc.detail, str) else exc.detail
    return error_response(exc.status_code, code, message, details, dict(exc.headers or {}))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    first = details[0] if details else None
    where = ".".join(str(p) for p in first["loc"]) if first else ""
    message = f"invalid request: {where}: {first['msg']}" if first else "invalid request"
    return error_response(422, "validation_error", message, details)


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC anywhere in the chain (SQLite reports it as 'database or disk is full')."""
    seen: BaseException | None = exc
    for _ in range(10):  # a chain is short; a cycle must not hang the handler
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        if "database or disk is full" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    outage = database_unavailable(exc)
    if outage is None:
        return await _unhandled(request, exc)
    # An outage is expected operations, not a bug: one line, no traceback per request.
    log.warning("database unavailable: %s", type(exc.__cause__ or exc).__name__)
    return error_response(outage.status_code, outage.code, outage.message, None, outage.headers)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    if database_unavailable(exc) is not None:
        # Raised by a middleware (outside the handlers by type): still a 503.
        return await _database_error(request, exc)
    if is_disk_full(exc):
        log.error("disk full: %s", exc)
        return error_response(
            503,
            "disk_full",
            "the server has no disk space left; nothing was stored, try again later",
            headers={"Retry-After": "60"},
        )
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # Its own handler, so a full disk is answered like any client-visible error.
    app.add_exception_handler(OSError, _unhandled)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeout, _database_error)
    app.add_exception_handler(Exception, _unhandled)
