"""Annotated dependencies, so routes read like prose."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.auth.dependencies import require_role
from app.auth.models import ApiKey, Role
from app.core.config import Settings
from app.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_db(request: Request) -> Iterator[Session]:
    runtime: Runtime = request.app.state.runtime
    session = runtime.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_settings(request: Request) -> Settings:
    return get_runtime(request).settings


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AdminKey = Annotated[ApiKey, Depends(require_role(Role.ADMIN))]
ClientKey = Annotated[ApiKey, Depends(require_role(Role.CLIENT))]
DifyKey = Annotated[ApiKey, Depends(require_role(Role.DIFY))]
AnyKey = Annotated[ApiKey, Depends(require_role(Role.CLIENT, Role.DIFY))]
