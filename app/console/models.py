from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigId, TimestampMixin, str_enum


class ConsoleRole(enum.StrEnum):
    ADMIN = "admin"
    AGENT = "agent"


class ConsoleUser(TimestampMixin, Base):
    """A person who signs in to the console: an admin, or a human agent."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # the login
    display_name: Mapped[str] = mapped_column(String(64))  # what customers see
    role: Mapped[ConsoleRole] = mapped_column(str_enum(ConsoleRole, "console_role"))
    password_hash: Mapped[str] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Every session cookie carries the generation it was issued under; bumping it signs the
    # user out everywhere (a password reset and a disable bump it too).
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    last_login_at: Mapped[datetime | None] = mapped_column(nullable=True)
