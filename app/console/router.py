"""The console's routes, mounted by ``install(app)``; one module per page.

A new page: a module with an ``APIRouter(prefix="/console/<name>")`` whose routes take
``require_console_user(*nav.roles_for("<name>"))`` (or the ``AdminUser`` / ``AgentUser``
aliases), render with ``app.console.web.render(..., active="<name>")`` from a template that
extends ``base.html``, and one line in ``PAGE_ROUTERS`` below. The nav entry already exists
in ``app.console.nav``.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from app.console import (
    analytics_routes,
    auth_routes,
    conversations_routes,
    faq_routes,
    handoff_routes,
    knowledge_routes,
    settings_routes,
    users_routes,
)
from app.console.errors import install_error_pages
from app.console.web import STATIC_DIR, STATIC_PREFIX

PAGE_ROUTERS: tuple[APIRouter, ...] = (
    auth_routes.router,
    knowledge_routes.router,
    faq_routes.router,
    settings_routes.router,
    users_routes.router,
    conversations_routes.router,
    handoff_routes.router,
    analytics_routes.router,
)


def install(app: FastAPI) -> None:
    for router in PAGE_ROUTERS:
        app.include_router(router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="console-static")
    install_error_pages(app)


_UPLOAD_ROUTE = re.compile(r"^/console/knowledge/kbs/[^/]+/documents/?$")


def is_upload(scope: Scope) -> bool:
    """The console's upload route: the body limit of uploads, not of JSON, applies to it."""
    return scope.get("method") == "POST" and bool(_UPLOAD_ROUTE.match(scope.get("path", "")))
