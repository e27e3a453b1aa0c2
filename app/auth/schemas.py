from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.auth import origins
from app.auth.models import Role


def _origin(value: str) -> str:
    return str(origins.parse(value, pattern=True))


AllowedOrigin = Annotated[
    str,
    AfterValidator(_origin),
    Field(
        description="http(s)://host[:port], or a wildcard subdomain: https://*.example.com",
        examples=["https://www.example.com"],
    ),
]


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: Role
    prefix: str
    rate_limit_per_minute: int | None
    allowed_origins: list[str]
    revoked: bool
    created_at: datetime
    last_used_at: datetime | None


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    role: Role
    rate_limit_per_minute: int | None = Field(None, ge=1, le=100_000)
    allowed_origins: list[AllowedOrigin] = Field(
        default_factory=list,
        max_length=50,
        description="Host-page origins a widget key may be embedded on; empty: anywhere.",
    )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret; shown only in this response.")


class WhoAmI(BaseModel):
    id: int
    name: str
    role: Role
