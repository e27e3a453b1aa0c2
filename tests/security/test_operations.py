"""Finding 12: a full disk is a 503 envelope and /readyz says so; a dead database URL is one
line from `kefu serve`, not a traceback; /readyz shows error strings to admins only; the data
directory is the service user's alone."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import Role
from app.cli.common import ensure_schema
from app.core.config import Settings
from app.main import create_app
from app.runtime import Runtime
from tests.security.conftest import free_port, new_key


def test_a_full_disk_is_a_503_envelope_and_readyz_reports_it(runtime: Runtime) -> None:
    app = create_app(runtime=runtime)

    @app.post("/test-only/write")
    def write() -> None:
        # /dev/full: the kernel's own "no space left on device" for every write.
        with open("/dev/full", "wb") as full:
            full.write(b"x" * 4096)
            full.flush()

    with TestClient(app) as http:
        response = http.post("/test-only/write")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "disk_full"
        assert response.headers["Retry-After"]

        assert http.get("/readyz").status_code == 200
        runtime.settings.min_free_disk_mb = 1 << 40  # more than any disk has free
        ready = http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["components"]["disk"]["state"] == "down"


def test_readyz_shows_error_strings_to_admins_only(
    client: TestClient, runtime: Runtime, session_factory: sessionmaker[Session]
) -> None:
    runtime.settings.celery.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    anonymous = client.get("/readyz")
    assert anonymous.status_code == 503
    assert anonymous.json()["components"]["broker"]["state"] == "down"
    assert all("detail" not in c for c in anonymous.json()["components"].values())
    assert "127.0.0.1" not in anonymous.text and "refused" not in anonymous.text.lower()
    client_key = new_key(session_factory, Role.CLIENT).secret
    as_client = client.get("/readyz", headers={"Authorization": f"Bearer {client_key}"})
    assert "detail" not in as_client.json()["components"]["broker"]
    admin = new_key(session_factory, Role.ADMIN).secret
    as_admin = client.get("/readyz", headers={"Authorization": f"Bearer {admin}"})
    assert as_admin.json()["components"]["broker"]["detail"]


def test_kefu_serve_with_a_dead_database_says_so_in_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KEFU_ENVIRONMENT": "test",
        "KEFU_SECRET_KEY": "dead-db-secret-0123456789",
        "KEFU_DATA_DIR": str(tmp_path / "data"),
        "KEFU_DATABASE_URL": "postgresql+psycopg://kefu:hunter2hunter2@127.0.0.1:1/kefu",
    }
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) <= 3, done.stderr
    assert "cannot use the database" in done.stderr and "127.0.0.1:1" in done.stderr
    assert "hunter2" not in done.stderr


def test_the_data_directory_is_private(tmp_path: Path) -> None:
    settings = Settings(
        environment="development",
        data_dir=tmp_path / "data",
        secret_key="private-dir-secret-0123456789",  # type: ignore[arg-type]
    )
    os.umask(0o022)  # what most shells run with
    ensure_schema(settings)
    runtime = Runtime.build(settings)
    try:
        assert stat.S_IMODE(settings.data_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE((settings.data_dir / "kefu.db").stat().st_mode) == 0o600
        assert stat.S_IMODE(settings.uploads_dir.stat().st_mode) == 0o700
    finally:
        runtime.close()
