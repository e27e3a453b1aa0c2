"""The Users page (admins): add a user, disable or enable one, reset a password.

A new or reset password is shown once, on the page that answers the form, and never again.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse

from app.console import service
from app.console.dependencies import AdminUser, ConsolePrincipal
from app.console.i18n import language, translator
from app.console.models import ConsoleRole
from app.console.web import render
from app.core.errors import NotFound
from app.deps import SessionDep

router = APIRouter(prefix="/console/users", include_in_schema=False)


def _page(
    request: Request,
    db_session: Session,
    user: ConsolePrincipal,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    users = service.list_users(db_session=db_session)
    return render(
        request,
        "users.html",
        {"users": users, "roles": list(ConsoleRole), **context},
        user=user,
        active="users",
        status_code=status_code,
    )


@router.get("")
def users_page(request: Request, user: AdminUser, db_session: SessionDep) -> HTMLResponse:
    return _page(request, db_session, user)


@router.post("")
def add_user(
    request: Request,
    user: AdminUser,
    db_session: SessionDep,
    name: Annotated[str, Form(max_length=64)],
    role: Annotated[ConsoleRole, Form()],
    display_name: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    try:
        created = service.create(
            db_session=db_session, name=name, role=role, display_name=display_name or None
        )
    except (service.InvalidUser, service.DuplicateUser) as exc:
        return _page(request, db_session, user, status_code=422, error=str(exc), form_name=name)
    return _page(
        request,
        db_session,
        user,
        one_time={"name": created.user.name, "password": created.password},
    )


def _target(db_session: Session, user_id: int) -> None:
    if service.get(db_session=db_session, user_id=user_id) is None:
        raise NotFound(f"no console user with id {user_id}")


@router.post("/{user_id}/disable")
def disable_user(
    request: Request, user_id: int, user: AdminUser, db_session: SessionDep
) -> HTMLResponse:
    _target(db_session, user_id)
    t = translator(language(request))
    if user_id == user.id:
        return _page(request, db_session, user, status_code=409, error=t("users.not_self"))
    service.set_disabled(db_session=db_session, user_id=user_id, disabled=True)
    return _page(request, db_session, user, notice=t("users.disabled_done"))


@router.post("/{user_id}/enable")
def enable_user(
    request: Request, user_id: int, user: AdminUser, db_session: SessionDep
) -> HTMLResponse:
    _target(db_session, user_id)
    service.set_disabled(db_session=db_session, user_id=user_id, disabled=False)
    return _page(
        request, db_session, user, notice=translator(language(request))("users.enabled_done")
    )


@router.post("/{user_id}/reset")
def reset_user(
    request: Request, user_id: int, user: AdminUser, db_session: SessionDep
) -> HTMLResponse:
    _target(db_session, user_id)
    reset = service.reset_password(db_session=db_session, user_id=user_id)
    assert reset is not None
    return _page(
        request, db_session, user, one_time={"name": reset.user.name, "password": reset.password}
    )
