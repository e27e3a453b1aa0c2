"""Console accounts: created, authenticated, disabled and reset; passwords hashed with argon2.

Keyword-only functions with the database session passed in. Signing out everywhere, a
disable and a password reset all bump the user's session generation, so every cookie
issued before stops working at its next request.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.console.models import ConsoleRole, ConsoleUser
from app.core.db import utcnow

_hasher = PasswordHasher()
# Verified against when the account does not exist, so an unknown name costs as long as a
# wrong password and the answer time does not tell which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 256
MAX_DISPLAY_NAME_CHARS = 64


class InvalidUser(ValueError):
    """A name, display name or password that cannot be stored (nothing changed)."""


class DuplicateUser(ValueError):
    """The login name is taken."""


class BadCredentials(Exception):
    """Unknown name or wrong password: the same answer for both."""


class DisabledUser(Exception):
    """A real account that an admin has disabled."""


@dataclass(frozen=True)
class NewPassword:
    user: ConsoleUser
    password: str


def one_time_password() -> str:
    return secrets.token_urlsafe(12)


def check_name(name: str) -> str:
    name = name.strip()
    if not NAME_RE.match(name):
        raise InvalidUser(
            "name must be 2-64 characters: letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_display_name(display_name: str) -> str:
    display_name = " ".join(display_name.split())
    if not display_name or len(display_name) > MAX_DISPLAY_NAME_CHARS:
        raise InvalidUser(f"display name must be 1-{MAX_DISPLAY_NAME_CHARS} characters")
    return display_name


def check_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidUser(f"password must be {MIN_PASSWORD_CHARS}-{MAX_PASSWORD_CHARS} characters")
    return password


def create(
    *,
    db_session: Session,
    name: str,
    role: ConsoleRole,
    display_name: str | None = None,
    password: str | None = None,
) -> NewPassword:
    """A new account; with no password, a one-time one is made (returned once)."""
    name = check_name(name)
    display = check_display_name(display_name if display_name is not None else name)
    secret = check_password(password) if password is not None else one_time_password()
    if get_by_name(db_session=db_session, name=name) is not None:
        raise DuplicateUser(f"a console user named '{name}' already exists")
    user = ConsoleUser(
        name=name,
        display_name=display,
        role=role,
        password_hash=_hasher.hash(secret),
        disabled=False,
        session_generation=0,
    )
    db_session.add(user)
    db_session.flush()
    return NewPassword(user=user, password=secret)


def get(*, db_session: Session, user_id: int) -> ConsoleUser | None:
    return db_session.get(ConsoleUser, user_id)


def get_by_name(*, db_session: Session, name: str) -> ConsoleUser | None:
    return db_session.scalar(
        select(ConsoleUser).where(func.lower(ConsoleUser.name) == name.strip().lower())
    )


def list_users(*, db_session: Session) -> list[ConsoleUser]:
    return list(db_session.scalars(select(ConsoleUser).order_by(ConsoleUser.id)))


def authenticate(*, db_session: Session, name: str, password: str) -> ConsoleUser:
    """The account for ``name`` and ``password``; BadCredentials or DisabledUser otherwise."""
    user = get_by_name(db_session=db_session, name=name)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise BadCredentials("wrong name or password") from None
    if user is None:
        raise BadCredentials("wrong name or password")
    if user.disabled:
        raise DisabledUser("this account is disabled")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    db_session.flush()
    return user


def set_disabled(*, db_session: Session, user_id: int, disabled: bool) -> ConsoleUser | None:
    user = db_session.get(ConsoleUser, user_id)
    if user is not None and user.disabled != disabled:
        user.disabled = disabled
        user.session_generation += 1
        db_session.flush()
    return user


def reset_password(
    *, db_session: Session, user_id: int, password: str | None = None
) -> NewPassword | None:
    """A new password (one-time when none is given); every session of the user ends."""
    user = db_session.get(ConsoleUser, user_id)
    if user is None:
        return None
    secret = check_password(password) if password is not None else one_time_password()
    user.password_hash = _hasher.hash(secret)
    user.session_generation += 1
    db_session.flush()
    return NewPassword(user=user, password=secret)


def sign_out_everywhere(*, db_session: Session, user_id: int) -> None:
    user = db_session.get(ConsoleUser, user_id)
    if user is not None:
        user.session_generation += 1
        db_session.flush()


def count_active_admins(*, db_session: Session) -> int:
    return int(
        db_session.scalar(
            select(func.count())
            .select_from(ConsoleUser)
            .where(ConsoleUser.role == ConsoleRole.ADMIN, ConsoleUser.disabled.is_(False))
        )
        or 0
    )
