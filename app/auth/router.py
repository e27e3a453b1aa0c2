from __future__ import annotations

from fastapi import APIRouter, status

from app.auth import service as auth_service
from app.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, WhoAmI
from app.core.errors import NotFound
from app.deps import AdminKey, AnyKey, SessionDep

router = APIRouter(prefix="/admin/api-keys", tags=["admin: api keys"])
whoami_router = APIRouter(tags=["auth"])


@router.get("", response_model=list[ApiKeyOut])
def list_keys(_: AdminKey, db_session: SessionDep) -> list[ApiKeyOut]:
    keys = auth_service.list_keys(db_session=db_session)
    return [ApiKeyOut.model_validate(k) for k in keys]


@router.post("", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
def create_key(body: ApiKeyCreate, _: AdminKey, db_session: SessionDep) -> ApiKeyCreated:
    new = auth_service.create(
        db_session=db_session,
        name=body.name,
        role=body.role,
        rate_limit_per_minute=body.rate_limit_per_minute,
        allowed_origins=body.allowed_origins,
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(new.key).model_dump(), key=new.secret)


@router.delete("/{key_id}", response_model=ApiKeyOut)
def revoke_key(key_id: int, _: AdminKey, db_session: SessionDep) -> ApiKeyOut:
    key = auth_service.revoke(db_session=db_session, key_id=key_id)
    if key is None:
        raise NotFound(f"API key {key_id} not found")
    return ApiKeyOut.model_validate(key)


@whoami_router.get("/whoami", response_model=WhoAmI, summary="The key this request used")
def whoami(key: AnyKey) -> WhoAmI:
    return WhoAmI(id=key.id, name=key.name, role=key.role)
