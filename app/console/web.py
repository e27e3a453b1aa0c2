"""Rendering a console page: the Jinja2 environment and what every template is given.

``render(request, "page.html", {...}, user=user, active="knowledge")`` gives the template,
besides its own values: ``t`` (the words in the user's language), ``lang``, ``user`` (a
``ConsolePrincipal`` or None), ``nav`` (the entries the user's role sees), ``active`` (the
nav entry to mark), ``csrf_token`` and ``static`` (the URL of a file in ``static/``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

from app.console import i18n, nav
from app.console.dependencies import ConsolePrincipal

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
STATIC_PREFIX = "/console/static"
templates = Jinja2Templates(directory=HERE / "templates")

# The console is never framed (clickjacking), never cached (pages show private data) and
# never sends its URLs to another site.
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def static(path: str) -> str:
    return f"{STATIC_PREFIX}/{path}"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    user: ConsolePrincipal | None,
    active: str = "",
    status_code: int = 200,
    csrf_token: str | None = None,
) -> HTMLResponse:
    lang = i18n.language(request)
    values: dict[str, Any] = {
        "t": i18n.translator(lang),
        "lang": lang,
        "user": user,
        "nav": nav.visible(user.role) if user else [],
        "active": active,
        "csrf_token": csrf_token or (user.csrf_token if user else ""),
        "static": static,
        "path": request.url.path,
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    response.headers.update(PAGE_HEADERS)
    return response
