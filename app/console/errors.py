"""Console refusals: a browser navigation gets a page (or the sign-in redirect), a script
gets the service's JSON error envelope."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response

from app.console.dependencies import ConsoleRefusal, SignInRequired, wants_page
from app.console.web import render
from app.core.errors import error_response


async def _refusal(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsoleRefusal)
    if wants_page(request):
        if isinstance(exc, SignInRequired):
            return RedirectResponse(exc.details["login"], status_code=303)
        user = getattr(request.state, "console_user", None)
        return render(
            request,
            "error.html",
            {"status": exc.status_code, "message": exc.message, "code": exc.code},
            user=user,
            status_code=exc.status_code,
        )
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


def install_error_pages(app: FastAPI) -> None:
    app.add_exception_handler(ConsoleRefusal, _refusal)
