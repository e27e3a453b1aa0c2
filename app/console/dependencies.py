"""Who is signed in to the console, and whether a state change carries its CSRF token.

Every console route takes ``require_console_user(...)`` (or one of the aliases below)::

    @router.get("/console/handoff")
    def page(request: Request, user: AgentUser) -> HTMLResponse: ...

    @router.post("/console/handoff/{id}/claim")   # POST/PUT/PATCH/DELETE: CSRF checked too
    def claim(user: AgentUser, db_session: SessionDep) -> ...: ...

It reads the signed cookie, loads the account (a disabled account or a cookie from before a
sign-out-everywhere is refused at once), checks the role (admins pass everywhere) and, for
any method but GET/HEAD/OPTIONS, the CSRF token from the ``X-CSRF-Token`` header or the
``csrf_token`` form field. Refusals: a page navigation without a session is redirected to
the sign-in page; a fetch/htmx call gets 401 JSON; a wrong role 403; a bad token 403.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from app.console import service
from app.console.models import ConsoleRole
from app.console.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    ConsoleSession,
    SessionCodec,
    token_matches,
)
from app.core.db import session_scope
from app.core.errors import AppError
from app.runtime import Runtime

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ConsoleRefusal(AppError):
    """A console refusal: an HTML page for a browser navigation, the JSON envelope otherwise
    (see ``app.console.errors``)."""


class SignInRequired(ConsoleRefusal):
    status_code = 401
    code = "unauthorized"


class ConsoleForbidden(ConsoleRefusal):
    status_code = 403
    code = "forbidden"


@dataclass(frozen=True)
class ConsolePrincipal:
    """The signed-in person, detached from the database session."""

    id: int
    name: str
    display_name: str
    role: ConsoleRole
    session: ConsoleSession

    @property
    def is_admin(self) -> bool:
        return self.role == ConsoleRole.ADMIN

    @property
    def csrf_token(self) -> str:
        return self.session.csrf


def codec(request: Request) -> SessionCodec:
    runtime: Runtime = request.app.state.runtime
    return SessionCodec(runtime.settings)


def wants_page(request: Request) -> bool:
    """A browser navigation or form post (not htmx, not fetch: those ask for JSON)."""
    if request.headers.get("hx-request"):
        return False
    return "text/html" in request.headers.get("accept", "")


def _load(runtime: Runtime, session: ConsoleSession) -> ConsolePrincipal | None:
    assert session.user_id is not None
    with session_scope(runtime.session_factory) as db_session:
        user = service.get(db_session=db_session, user_id=session.user_id)
        if user is None or user.disabled or user.session_generation != session.generation:
            return None
        return ConsolePrincipal(user.id, user.name, user.display_name, user.role, session)


async def still_signed_in(runtime: Runtime, session: ConsoleSession) -> bool:
    """Whether a session is still good (not signed out everywhere, the user not disabled):
    asked again by long-lived responses such as the live feed."""
    return await run_in_threadpool(_load, runtime, session) is not None


async def signed_in_user(request: Request) -> ConsolePrincipal | None:
    """The signed-in user, or None (no cookie, a forged or expired one, a disabled account,
    a sign-out everywhere since). Loaded once per request."""
    cached: ConsolePrincipal | None = getattr(request.state, "console_user", None)
    if cached is not None:
        return cached
    session = codec(request).read(request)
    if session is None or session.user_id is None:
        return None
    runtime: Runtime = request.app.state.runtime
    principal = await run_in_threadpool(_load, runtime, session)
    request.state.console_user = principal
    return principal


async def check_csrf(request: Request, session: ConsoleSession) -> None:
    """403 unless a state change carries the session's token (header or form field)."""
    if request.method in SAFE_METHODS:
        return
    submitted = request.headers.get(CSRF_HEADER)
    if not submitted and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # cached on the request: the route reads it again
        value = form.get(CSRF_FIELD)
        submitted = value if isinstance(value, str) else None
    if not token_matches(session, submitted):
        raise ConsoleForbidden(
            "missing or wrong CSRF token: reload the page and try again", code="csrf_failed"
        )


def require_console_user(
    *roles: ConsoleRole,
) -> Callable[[Request], Coroutine[Any, Any, ConsolePrincipal]]:
    """A dependency admitting signed-in users of ``roles`` (admins always; no roles: anyone
    signed in), checking CSRF on state changes."""
    allowed = {*roles, ConsoleRole.ADMIN} if roles else set(ConsoleRole)

    async def dependency(request: Request) -> ConsolePrincipal:
        cached = await signed_in_user(request)
        if cached is None:
            query = f"?{request.url.query}" if request.url.query else ""
            target = quote(request.url.path + query)
            raise SignInRequired(
                "sign in to the console first",
                details={"login": f"/console/login?next={target}"},
            )
        if cached.role not in allowed:
            raise ConsoleForbidden(
                f"this page needs the role {' or '.join(sorted(r.value for r in allowed))}"
            )
        await check_csrf(request, cached.session)
        return cached

    return dependency


ConsoleUserDep = Annotated[ConsolePrincipal, Depends(require_console_user())]
AdminUser = Annotated[ConsolePrincipal, Depends(require_console_user(ConsoleRole.ADMIN))]
AgentUser = Annotated[ConsolePrincipal, Depends(require_console_user(ConsoleRole.AGENT))]
