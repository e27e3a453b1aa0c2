"""The Settings page (admins): API keys (create, revoke, allowed origins) and the widget's
embed snippet with a live preview. A new key's secret is shown once, on the page that
answers the form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, Response

from app.auth import origins
from app.auth import service as auth_service
from app.auth.models import Role
from app.console.dependencies import AdminUser, ConsolePrincipal
from app.console.web import PAGE_HEADERS, render, templates
from app.core.errors import NotFound
from app.deps import SessionDep

router = APIRouter(prefix="/console/settings", include_in_schema=False)

Origins = Annotated[str, Form(max_length=20000)]


def _lines(text: str) -> list[str]:
    return [line for line in (raw.strip() for raw in text.splitlines()) if line]


def _page(
    request: Request,
    user: ConsolePrincipal,
    db_session: Session,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    keys = auth_service.list_keys(db_session=db_session)
    base = str(request.base_url).rstrip("/")
    return render(
        request,
        "settings.html",
        {"keys": keys, "roles": list(Role), "kefu_url": base, **context},
        user=user,
        active="settings",
        status_code=status_code,
    )


@router.get("")
def settings_page(request: Request, user: AdminUser, db_session: SessionDep) -> HTMLResponse:
    return _page(request, user, db_session)


@router.post("/keys")
def create_key(
    request: Request,
    user: AdminUser,
    db_session: SessionDep,
    name: Annotated[str, Form(min_length=1, max_length=128)],
    role: Annotated[Role, Form()],
    allowed_origins: Origins = "",
) -> HTMLResponse:
    try:
        new = auth_service.create(
            db_session=db_session, name=name, role=role, allowed_origins=_lines(allowed_origins)
        )
    except origins.InvalidOrigin as exc:
        return _page(request, user, db_session, status_code=422, error=str(exc))
    return _page(request, user, db_session, new_key={"name": name, "secret": new.secret})


@router.post("/keys/{key_id}/origins")
def set_origins(
    request: Request,
    key_id: int,
    user: AdminUser,
    db_session: SessionDep,
    allowed_origins: Origins = "",
) -> HTMLResponse:
    try:
        key = auth_service.set_allowed_origins(
            db_session=db_session, key_id=key_id, allowed=_lines(allowed_origins)
        )
    except origins.InvalidOrigin as exc:
        return _page(request, user, db_session, status_code=422, error=str(exc))
    if key is None:
        raise NotFound(f"API key {key_id} not found")
    return _page(request, user, db_session, notice_key=key.name)


@router.post("/keys/{key_id}/revoke")
def revoke_key(
    request: Request, key_id: int, user: AdminUser, db_session: SessionDep
) -> HTMLResponse:
    if auth_service.revoke(db_session=db_session, key_id=key_id) is None:
        raise NotFound(f"API key {key_id} not found")
    return _page(request, user, db_session)


@router.get("/preview")
def embed_preview(request: Request, user: AdminUser, key: str = "", lang: str = "") -> Response:
    """A blank host page with the widget tag, framed by the Settings page. It always loads
    this server's own widget.js (never a URL from the query), on the console's origin."""
    response = templates.TemplateResponse(
        request,
        "preview.html",
        {
            "kefu_url": str(request.base_url).rstrip("/"),
            "key": key if auth_service.is_well_formed(key) else "",
            "lang": lang if lang in ("zh", "en") else "",
        },
    )
    response.headers.update({**PAGE_HEADERS, "X-Frame-Options": "SAMEORIGIN"})
    return response
