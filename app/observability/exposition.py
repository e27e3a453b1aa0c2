"""What ``/metrics`` serves: this process's registry, or every worker's files added up."""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
    values,
)

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
_PID = re.compile(r"_(\d+)\.db$")


def multiprocess_dir() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None


def prepare_multiprocess(directory: Path) -> None:
    """Before the workers start (``kefu serve --workers N``): an empty directory in the
    environment they inherit. Files left by an earlier run would add old counts to new."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, mode=0o700)
    os.environ[ENV] = str(directory)
    # prometheus_client chose how to keep values when it was imported (this module imports
    # it): choose again, so the metrics created from now on (kefu's are created when their
    # module is first imported, after this) count in files. A forked pool process inherits
    # the choice; a spawned worker makes it from the environment.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def latest() -> bytes:
    directory = multiprocess_dir()
    if directory is None:
        return generate_latest(REGISTRY)
    _forget_dead_workers(directory)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def _forget_dead_workers(directory: Path) -> None:
    """A worker uvicorn replaced leaves its files: its counters still count (they are
    history), but its live gauges (the breaker state) must no longer be reported."""
    pids = {int(m.group(1)) for p in directory.glob("*.db") if (m := _PID.search(p.name))}
    for pid in pids:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, path=str(directory))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def bearer_matches(authorization: str, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (compared in constant
    time)."""
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        given.strip().encode(), token.encode()
    )


def serve_on_port(host: str, port: int, *, token: str | None = None) -> ThreadingHTTPServer:
    """``GET /metrics`` on a port of its own, from a daemon thread: for a process with no
    HTTP server (``kefu worker``), whose pool processes count in the multiprocess files.
    With ``token``, a scrape must send ``Authorization: Bearer <token>``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self._send(404, b"not found: metrics are at /metrics\n", "text/plain")
                return
            if token is not None and not bearer_matches(
                self.headers.get("Authorization", ""), token
            ):
                self._send(401, b"/metrics needs 'Authorization: Bearer <token>'\n", "text/plain")
                return
            self._send(200, latest(), CONTENT_TYPE_LATEST)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Silent: a line per scrape would drown the worker's log."""

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="kefu-metrics", daemon=True).start()
    log.info("metrics at http://%s:%s/metrics", host, server.server_address[1])
    return server
