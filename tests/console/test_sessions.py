"""Console sign-in over HTTP: cookie flags, CSRF, roles, throttling, disabled users and
signing out everywhere (PostgreSQL and SQLite)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from app.console.models import ConsoleRole
from app.console.sessions import COOKIE_NAME, ConsoleSession, SessionCodec
from app.core.config import Settings
from app.main import create_app
from app.runtime import Runtime
from tests.console.support import make_user, page_token, sign_in

HTML = {"Accept": "text/html"}


@pytest.fixture
def users(session_factory: sessionmaker[Session]) -> dict[str, int]:
    return {
        "ada": make_user(session_factory, "ada", ConsoleRole.ADMIN),
        "bo": make_user(session_factory, "bo", ConsoleRole.AGENT, display_name="客服小波"),
    }


def test_sign_in_sets_a_strict_httponly_cookie(client: TestClient, users: dict[str, int]) -> None:
    response = sign_in(client, "ada")
    assert response.status_code == 303 and response.headers["location"] == "/console"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/console"} <= flags
    assert "secure" not in flags  # plain http, no setting: a laptop install still works
    home = client.get("/console", follow_redirects=False)
    assert home.headers["location"] == "/console/knowledge"
    page = client.get("/console/users", headers=HTML)
    assert page.status_code == 200 and 'data-user="bo"' in page.text
    assert page.headers["x-frame-options"] == "DENY"


def test_secure_cookie_over_https_or_by_setting(runtime: Runtime, users: dict[str, int]) -> None:
    with TestClient(create_app(runtime=runtime), base_url="https://testserver") as c:
        assert "secure" in sign_in(c, "ada").headers["set-cookie"].lower()
    runtime.settings.console.secure_cookies = True
    with TestClient(create_app(runtime=runtime)) as c:
        assert "; secure" in sign_in(c, "ada").headers["set-cookie"].lower()


def test_wrong_password_and_unknown_name_are_refused_alike(
    client: TestClient, users: dict[str, int]
) -> None:
    wrong = sign_in(client, "ada", "not the password")
    unknown = sign_in(client, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert 'id="login-error"' in wrong.text
    page = client.get("/console/users", headers=HTML, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=/console/users"
    api = client.get("/console/users", headers={"Accept": "application/json"})
    assert api.status_code == 401 and api.json()["error"]["code"] == "unauthorized"


def test_a_state_change_without_the_csrf_token_is_refused(
    client: TestClient, users: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, "ada")
    form = {"name": "cy", "role": "agent"}
    refused = client.post("/console/users", data=form)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    wrong = client.post("/console/users", data={**form, "csrf_token": "forged"})
    assert wrong.status_code == 403
    from app.console import service

    with session_factory() as s:
        assert service.get_by_name(db_session=s, name="cy") is None
    token = page_token(client, "/console/users")
    by_header = client.post("/console/users", data=form, headers={"X-CSRF-Token": token})
    assert by_header.status_code == 200 and 'id="one-time-password"' in by_header.text
    # The sign-in form is protected too: a login posted from elsewhere has no token.
    client.cookies.clear()
    forged_login = client.post(
        "/console/login", data={"name": "ada", "password": "correct horse battery"}
    )
    assert forged_login.status_code == 403


def test_an_agent_cannot_open_admin_pages(client: TestClient, users: dict[str, int]) -> None:
    sign_in(client, "bo")
    assert client.get("/console", follow_redirects=False).headers["location"] == (
        "/console/conversations"
    )
    page = client.get("/console/users", headers=HTML)
    assert page.status_code == 403 and 'data-code="forbidden"' in page.text
    assert 'data-nav="users"' not in page.text and 'data-nav="handoff"' in page.text
    token = page_token(client, "/console/users")
    created = client.post(
        "/console/users", data={"name": "eve", "role": "admin", "csrf_token": token}
    )
    assert created.status_code == 403


def test_disabling_a_user_ends_their_session_at_once(
    runtime: Runtime, client: TestClient, users: dict[str, int]
) -> None:
    sign_in(client, "ada")
    with TestClient(create_app(runtime=runtime)) as agent:
        sign_in(agent, "bo")
        assert agent.get("/console/users", headers=HTML).status_code == 403  # signed in
        token = page_token(client, "/console/users")
        done = client.post(f"/console/users/{users['bo']}/disable", data={"csrf_token": token})
        assert done.status_code == 200
        after = agent.get("/console/users", headers=HTML, follow_redirects=False)
        assert after.status_code == 303  # back to the sign-in page
        again = sign_in(agent, "bo")
        assert again.status_code == 401 and "停用" in again.text


def test_sign_out_everywhere_invalidates_every_cookie(
    runtime: Runtime, client: TestClient, users: dict[str, int]
) -> None:
    sign_in(client, "ada")
    with TestClient(create_app(runtime=runtime)) as laptop:
        sign_in(laptop, "ada")
        stolen = laptop.cookies.get(COOKIE_NAME)
        token = page_token(client, "/console/users")
        out = client.post(
            "/console/logout-everywhere", data={"csrf_token": token}, follow_redirects=False
        )
        assert out.status_code == 303
        assert laptop.get("/console/users", headers=HTML, follow_redirects=False).status_code == 303
        laptop.cookies.set(COOKIE_NAME, stolen or "", path="/console")
        assert laptop.get("/console/users").status_code == 401
    assert client.get("/console/users").status_code == 401


def test_a_tampered_or_forged_cookie_is_refused(client: TestClient, users: dict[str, int]) -> None:
    sign_in(client, "bo")
    value = client.cookies.get(COOKIE_NAME) or ""
    payload, _, signature = value.rpartition(".")
    forged = SessionCodec(
        Settings(environment="test", secret_key="another-secret-0123456789")  # type: ignore[arg-type]
    ).dumps(ConsoleSession(csrf="x", user_id=users["ada"], generation=0))
    for bad in (f"{payload}.{signature[::-1]}", forged):
        client.cookies.clear()
        client.cookies.set(COOKIE_NAME, bad, path="/console")
        assert client.get("/console/users").status_code == 401


def test_login_is_throttled_per_account_and_per_ip(
    runtime: Runtime, client: TestClient, users: dict[str, int]
) -> None:
    runtime.settings.console.login_attempts_per_minute_per_account = 3
    for _ in range(3):
        assert sign_in(client, "bo", "wrong password").status_code == 401
    blocked = sign_in(client, "bo")  # even the right password, until the window passes
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert sign_in(client, "ada").status_code == 303  # another account is not blocked
    runtime.settings.console.login_attempts_per_minute_per_ip = 2
    refused = [sign_in(client, "nobody-" + str(i), "x" * 12).status_code for i in range(3)]
    assert refused[-1] == 429


def test_next_never_leaves_the_console(client: TestClient, users: dict[str, int]) -> None:
    page = client.get("/console/login")
    from tests.console.support import PASSWORD, csrf_of

    response = client.post(
        "/console/login",
        data={
            "name": "ada",
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/console"


def test_accounts_refuse_bad_names_passwords_and_duplicates(db_session: Session) -> None:
    from app.console import service

    service.create(db_session=db_session, name="dee", role=ConsoleRole.AGENT)
    with pytest.raises(service.DuplicateUser):
        service.create(db_session=db_session, name="DEE", role=ConsoleRole.AGENT)
    for bad in ("", "a", "has space", "-dash", "x" * 65):
        with pytest.raises(service.InvalidUser):
            service.create(db_session=db_session, name=bad, role=ConsoleRole.AGENT)
    with pytest.raises(service.InvalidUser, match="password must be"):
        service.create(db_session=db_session, name="eve", role=ConsoleRole.AGENT, password="short")
    assert service.get_by_name(db_session=db_session, name="eve") is None
