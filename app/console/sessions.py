"""The console's session cookie and its CSRF token.

The cookie is signed (itsdangerous, keyed by the service's secret key), HttpOnly and
SameSite=Strict, and carries the user id, the user's session generation when it was issued
and a random CSRF token. Every state change must send that token back, in the
``csrf_token`` form field or the ``X-CSRF-Token`` header (htmx and fetch); pages put it in a
``<meta name="csrf-token">`` for scripts, since scripts cannot read the cookie. A visitor
who has not signed in gets an anonymous cookie, so the sign-in form is protected too, and
signing in issues a new token (no fixation).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from app.core.config import Settings

COOKIE_NAME = "kefu_console"
COOKIE_PATH = "/console"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
_SALT = "kefu.console.session.v1"


@dataclass(frozen=True)
class ConsoleSession:
    csrf: str
    user_id: int | None = None
    generation: int = 0


def anonymous() -> ConsoleSession:
    return ConsoleSession(csrf=secrets.token_urlsafe(24))


def signed_in(user_id: int, generation: int) -> ConsoleSession:
    return ConsoleSession(csrf=secrets.token_urlsafe(24), user_id=user_id, generation=generation)


class SessionCodec:
    def __init__(self, settings: Settings) -> None:
        self._serializer = URLSafeTimedSerializer(
            settings.secret_key.get_secret_value(), salt=_SALT
        )
        self.max_age = int(settings.console.session_hours * 3600)
        self.secure = settings.console.secure_cookies

    def dumps(self, session: ConsoleSession) -> str:
        return str(self._serializer.dumps([session.user_id, session.generation, session.csrf]))

    def loads(self, value: str) -> ConsoleSession | None:
        """The session in a cookie value; None when forged, tampered with or expired."""
        try:
            user_id, generation, csrf = self._serializer.loads(value, max_age=self.max_age)
        except (BadSignature, ValueError, TypeError):
            return None
        if not isinstance(csrf, str) or not isinstance(generation, int):
            return None
        if user_id is not None and not isinstance(user_id, int):
            return None
        return ConsoleSession(csrf=csrf, user_id=user_id, generation=generation)

    def read(self, request: Request) -> ConsoleSession | None:
        value = request.cookies.get(COOKIE_NAME)
        return self.loads(value) if value else None

    def write(self, response: Response, request: Request, session: ConsoleSession) -> None:
        secure = self.secure if self.secure is not None else request.url.scheme == "https"
        response.set_cookie(
            COOKIE_NAME,
            self.dumps(session),
            max_age=self.max_age,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=secure,
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, httponly=True, samesite="strict")


def token_matches(session: ConsoleSession, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(session.csrf, submitted or "")
