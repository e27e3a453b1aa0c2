"""Real processes: PostgreSQL with committed data, a shared `milvus-lite server`, Redis as the
Celery broker, and `kefu worker` subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from pymilvus import MilvusClient

from tests.conftest import fresh_pg_database
from tests.served import free_port
from tests.support import wait_until

REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL", "redis://127.0.0.1:6379")


@pytest.fixture
def committed_pg() -> Iterator[str]:
    with fresh_pg_database("kefu_e2e") as url:
        yield url


@pytest.fixture
def milvus_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "knowledge.vectorstore.lite_server",
            "--data-dir",
            str(tmp_path / "milvus.db"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            MilvusClient(uri=uri, timeout=2).list_collections()
            return True
        except Exception:
            return False

    try:
        wait_until(up, timeout=60, what="milvus-lite server")
        yield uri
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def broker_url() -> Iterator[str]:
    db = 11
    url = f"{REDIS_URL}/{db}"
    r = redis.Redis.from_url(url)
    r.flushdb()
    yield url
    r.flushdb()
    r.close()


@pytest.fixture
def e2e_env(
    tmp_path: Path, committed_pg: str, milvus_server: str, broker_url: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update(
        KEFU_ENVIRONMENT="test",
        KEFU_SECRET_KEY="e2e-secret-0123456789abcdef",
        KEFU_DATA_DIR=str(tmp_path / "data"),
        KEFU_DATABASE_URL=committed_pg,
        KEFU_MILVUS_URI=milvus_server,
        KEFU_CELERY_BROKER_URL=broker_url,
        KEFU_CELERY_VISIBILITY_TIMEOUT="3",
        # A killed worker's claim runs out quickly (a live one's is renewed every second).
        KEFU_INGEST_LEASE_SECONDS="3",
        KEFU_LOG_JSON="false",
    )
    return env


class Worker:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._log = log.open("ab")
        self.metrics_port = free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "worker",
                "--concurrency",
                "1",
                "--metrics-port",
                str(self.metrics_port),
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a kill takes its children too
        )

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@pytest.fixture
def start_worker(e2e_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[], Worker]]:
    workers: list[Worker] = []

    def start() -> Worker:
        worker = Worker(e2e_env, tmp_path / "worker.log")
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
