"""Signing in and out of the console, and the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from app.console import i18n, nav, service, sessions
from app.console.dependencies import ConsoleUserDep, codec, signed_in_user
from app.console.web import render
from app.core.db import session_scope
from app.core.ratelimit import client_ip
from app.runtime import Runtime

router = APIRouter(prefix="/console", include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a console path: never another site (an open redirect)."""
    if target and target.startswith("/console") and not target.startswith("/console/login"):
        return target
    return "/console"


@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    user = await signed_in_user(request)
    return RedirectResponse(nav.home(user.role) if user else "/console/login", status_code=303)


def _login_page(
    request: Request, *, next_path: str, error: str = "", status_code: int = 200, name: str = ""
) -> Response:
    coder = codec(request)
    session = coder.read(request)
    if session is None or session.user_id is not None:
        session = sessions.anonymous()
    response = render(
        request,
        "login.html",
        {"next": next_path, "error": error, "name": name},
        user=None,
        status_code=status_code,
        csrf_token=session.csrf,
    )
    coder.write(response, request, session)
    return response


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return _login_page(request, next_path=safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=service.MAX_PASSWORD_CHARS)],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/console",
) -> Response:
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    t = i18n.translator(i18n.language(request))
    target = safe_next(next)
    session = codec(request).read(request)
    if session is None or not sessions.token_matches(session, csrf_token):
        return _login_page(
            request, next_path=target, error=t("login.csrf"), status_code=403, name=name
        )
    peer = request.client.host if request.client else None
    ip = client_ip(peer, request.headers.get("x-forwarded-for"), settings.limits.trusted_proxies)
    limits = settings.console
    for namespace, identity, per_minute in (
        ("console-login-ip", ip, limits.login_attempts_per_minute_per_ip),
        ("console-login-name", name.strip().lower(), limits.login_attempts_per_minute_per_account),
    ):
        verdict = await run_in_threadpool(runtime.limiter.hit, namespace, identity, per_minute)
        if not verdict.allowed:
            page = _login_page(
                request,
                next_path=target,
                error=t("login.throttled", seconds=verdict.retry_after),
                status_code=429,
                name=name,
            )
            page.headers["Retry-After"] = str(verdict.retry_after)
            return page

    def check() -> tuple[int, int] | str:
        with session_scope(runtime.session_factory) as db_session:
            try:
                user = service.authenticate(db_session=db_session, name=name, password=password)
            except service.BadCredentials:
                return "login.wrong"
            except service.DisabledUser:
                return "login.disabled"
            return user.id, user.session_generation

    outcome = await run_in_threadpool(check)
    if isinstance(outcome, str):
        return _login_page(request, next_path=target, error=t(outcome), status_code=401, name=name)
    response = RedirectResponse(target, status_code=303)
    codec(request).write(response, request, sessions.signed_in(*outcome))
    return response


@router.post("/logout")
def logout(request: Request, user: ConsoleUserDep) -> Response:
    response = RedirectResponse("/console/login", status_code=303)
    codec(request).clear(response)
    return response


@router.post("/logout-everywhere")
def logout_everywhere(request: Request, user: ConsoleUserDep) -> Response:
    with session_scope(request.app.state.runtime.session_factory) as db_session:
        service.sign_out_everywhere(db_session=db_session, user_id=user.id)
    response = RedirectResponse("/console/login", status_code=303)
    codec(request).clear(response)
    return response


@router.get("/lang/{lang}")
def switch_language(request: Request, lang: str, next: str | None = None) -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    if lang in i18n.LANGUAGES:
        response.set_cookie(
            i18n.LANG_COOKIE, lang, max_age=365 * 86400, path="/console", samesite="lax"
        )
    return response
