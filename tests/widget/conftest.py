"""One ingested knowledge base, a kefu server on a loopback port and a host page on another
(a different origin), shared by the widget tests: embedding models load once."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.auth import service as auth_service
from app.auth.models import Role
from app.core.cache import InProcessCache
from app.core.config import Settings
from app.core.db import make_engine
from app.knowledge_bases import service as kb_service
from app.main import create_app
from app.runtime import Runtime

FAQ = (
    "question,answer,alt_questions\n"
    "How long does delivery take?,Orders arrive in **3-5 working days**.,"
    "when will my parcel arrive\n"
    "怎么开发票？,在订单详情页点击“申请发票”即可开具电子发票。,发票在哪里开|能开发票吗\n"
)
FAQ_QUESTION = "How long does delivery take?"
FAQ_ANSWER_TEXT = "Orders arrive in 3-5 working days."
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"


def wait_until(condition: object, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def build_runtime(
    root: Path, sqlite_template: Path, uploads: dict[str, str], **settings: Any
) -> Runtime:
    """A runtime on a fresh copy of the migrated SQLite database, with ``uploads`` ingested."""
    db = root / "kefu.db"
    shutil.copy(sqlite_template, db)
    config = Settings(
        environment="test",
        data_dir=root / "data",
        secret_key="widget-test-secret-0123456789",  # type: ignore[arg-type]
        log_json=True,
        **settings,
    )
    config.limits.max_message_chars = 500
    # Every test of the package calls from one address; per-IP limits are tested in security.
    config.limits.ip_rate_per_minute = 100_000
    runtime = Runtime.build(config, engine=make_engine(f"sqlite:///{db}"), cache=InProcessCache())
    with runtime.session_factory() as s:
        kb = kb_service.create_kb(db_session=s, runtime=runtime, name="shop", description="")
        s.commit()
        kb_service.upload(
            db_session=s,
            runtime=runtime,
            kb=kb,
            uploads=[kb_service.Upload(filename=n, data=d.encode()) for n, d in uploads.items()],
        )
    runtime.ingestion.drain(timeout=120)
    return runtime


@pytest.fixture(scope="package")
def widget_runtime(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Runtime]:
    runtime = build_runtime(tmp_path_factory.mktemp("widget"), sqlite_template, {"faq.csv": FAQ})
    yield runtime
    runtime.close()
    runtime.engine.dispose()


@pytest.fixture(scope="package")
def api(widget_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=widget_runtime)) as c:
        yield c


class Server:
    def __init__(self, app: FastAPI) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=2
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=30, what="uvicorn to start")
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture(scope="package")
def kefu_url(widget_runtime: Runtime) -> Iterator[str]:
    """The same runtime behind a real server (its own app: lifespans are per app)."""
    with Server(create_app(runtime=widget_runtime)) as url:
        yield url


@dataclass
class HostSite:
    """Customer sites on loopback: a different port is a different origin."""

    url: str
    pages: dict[str, str]


def host_server() -> tuple[ThreadingHTTPServer, HostSite]:
    site = HostSite(url="", pages={})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page = site.pages.get(self.path.split("?")[0])
            body = (page or "not found").encode()
            self.send_response(200 if page else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, site


@pytest.fixture(scope="package")
def host_site() -> Iterator[HostSite]:
    httpd, site = host_server()
    yield site
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="package")
def other_site() -> Iterator[HostSite]:
    """A site the widget key does not allow."""
    httpd, site = host_server()
    yield site
    httpd.shutdown()
    httpd.server_close()


@dataclass
class Keys:
    client: str  # allowed on host_site only
    client_id: int
    open_client: str  # no allowed origins: a private key, refused by the frame
    other_client: str
    admin: str


@pytest.fixture(scope="package")
def keys(widget_runtime: Runtime, host_site: HostSite) -> Keys:
    with widget_runtime.session_factory() as s:
        client = auth_service.create(
            db_session=s, name="shop site", role=Role.CLIENT, allowed_origins=[host_site.url]
        )
        open_client = auth_service.create(db_session=s, name="dev", role=Role.CLIENT)
        other = auth_service.create(
            db_session=s, name="other", role=Role.CLIENT, allowed_origins=[host_site.url]
        )
        admin = auth_service.create(db_session=s, name="admin", role=Role.ADMIN)
        s.commit()
        return Keys(client.secret, client.key.id, open_client.secret, other.secret, admin.secret)


@pytest.fixture
def admin_api(kefu_url: str, keys: Keys) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=kefu_url, headers={"Authorization": f"Bearer {keys.admin}"}, timeout=30
    ) as c:
        yield c
