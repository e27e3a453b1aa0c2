"""The production topology on one machine, every process on 127.0.0.1 and owned by the
harness: its own PostgreSQL cluster (initdb, so it can be restarted), its own Redis, a shared
Milvus Lite server (``python -m knowledge.vectorstore.lite_server``), the scripted LLM,
``kefu serve --workers N`` and ``kefu worker``s.

Every process is started in a session of its own and killed (the whole group) by ``close()``,
which the harness runs in a ``finally`` and at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.faults.procs import (
    ROOT,
    Proc,
    children,
    cmdline,
    free_port,
    pg_bin,
    port_open,
    wait_until,
)


class Topology:
    def __init__(self, work: Path, *, api_workers: int, celery_workers: int, llm: dict[str, float]):
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.api_workers = api_workers
        self.celery_count = celery_workers
        self.llm_opts = llm
        self.procs: list[Proc] = []
        self.celery: list[Proc] = []
        self.api: Proc | None = None
        self.redis: Proc | None = None
        # PostgreSQL refuses to run as root: its cluster is then owned by the postgres user,
        # in a directory of its own (the work dir is private to root).
        self.pg_dir = Path(tempfile.mkdtemp(prefix="kefu-faults-pg-")) / "data"
        self.pg_port = free_port()
        self.redis_port = free_port()
        self.milvus_port = free_port()
        self.llm_port = free_port()
        self.api_port = free_port()
        self.env: dict[str, str] = {}
        self._pg_started = False
        self._closed = False
        atexit.register(self.close)

    # -- infrastructure ----------------------------------------------------------------

    def _start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        proc = Proc(name, argv, self.logs / f"{name}.log", env)
        self.procs.append(proc)
        return proc

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.pg_port}/kefu"

    @property
    def pg_dsn(self) -> str:
        return f"host=127.0.0.1 port={self.pg_port} user=postgres dbname=kefu"

    def _as_pg(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        return ["runuser", "-u", "postgres", "--"]

    def start_pg(self) -> None:
        if not (self.pg_dir / "PG_VERSION").exists():
            if os.geteuid() == 0:
                shutil.chown(self.pg_dir.parent, "postgres", "postgres")
            subprocess.run(
                [
                    *self._as_pg(),
                    pg_bin("initdb"),
                    "-D",
                    str(self.pg_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        opts = (
            f"-p {self.pg_port} -c listen_addresses=127.0.0.1 -k {self.pg_dir} "
            "-c max_connections=200 -c shared_buffers=64MB"
        )
        subprocess.run(
            [
                *self._as_pg(),
                pg_bin("pg_ctl"),
                "-D",
                str(self.pg_dir),
                "-o",
                opts,
                "-l",
                str(self.pg_dir.parent / "postgres.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self._pg_started = True
        wait_until(lambda: port_open(self.pg_port), timeout=30, what="postgres")

    def stop_pg(self, mode: str = "fast") -> None:
        subprocess.run(
            [
                *self._as_pg(),
                pg_bin("pg_ctl"),
                "-D",
                str(self.pg_dir),
                "-m",
                mode,
                "-w",
                "-t",
                "60",
                "stop",
            ],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def create_db(self) -> None:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.pg_port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE kefu")

    def start_redis(self) -> None:
        rdir = self.work / "redis"
        rdir.mkdir(exist_ok=True)
        # A durable production Redis: the append-only file keeps the broker's queue (and the
        # dedup keys) across a restart.
        self.redis = self._start(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(rdir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--protected-mode",
                "yes",
            ],
        )
        wait_until(lambda: port_open(self.redis_port), timeout=30, what="redis")

    def stop_redis(self) -> None:
        if self.redis is not None:
            self.redis.stop()

    def start_milvus(self) -> None:
        self._start(
            "milvus",
            [
                sys.executable,
                "-m",
                "knowledge.vectorstore.lite_server",
                "--data-dir",
                str(self.work / "milvus.db"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.milvus_port),
            ],
        )
        from pymilvus import MilvusClient

        def up() -> bool:
            MilvusClient(uri=f"http://127.0.0.1:{self.milvus_port}", timeout=2).list_collections()
            return True

        wait_until(up, timeout=120, what="milvus-lite server")

    def start_llm(self) -> None:
        o = self.llm_opts
        self._start(
            "llm",
            [
                sys.executable,
                "-m",
                "benchmarks.faults.llm_stub",
                "--port",
                str(self.llm_port),
                "--first-token",
                str(o["first_token"]),
                "--tps",
                str(o["tps"]),
                "--tokens",
                str(int(o["tokens"])),
            ],
        )
        wait_until(lambda: port_open(self.llm_port), timeout=30, what="scripted LLM")

    def llm_control(self, mode: str) -> None:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.llm_port}/_control",
            data=json.dumps({"mode": mode}).encode(),
            method="POST",
        )
        urllib.request.urlopen(req, timeout=5).read()

    def llm_stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.llm_port}/_stats", timeout=5) as r:
            return dict(json.loads(r.read()))

    # -- kefu --------------------------------------------------------------------------

    def kefu_env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
        redis = f"redis://127.0.0.1:{self.redis_port}"
        env.update(
            KEFU_ENVIRONMENT="production",
            KEFU_SECRET_KEY="fault-harness-secret-" + os.urandom(8).hex(),
            KEFU_DATA_DIR=str(self.work / "data"),
            KEFU_DATABASE_URL=self.database_url,
            KEFU_MILVUS_URI=f"http://127.0.0.1:{self.milvus_port}",
            KEFU_REDIS_URL=f"{redis}/0",
            KEFU_CELERY_BROKER_URL=f"{redis}/1",
            KEFU_LLM_BASE_URL=f"http://127.0.0.1:{self.llm_port}/v1",
            KEFU_LLM_MODEL="scripted",
            KEFU_LOG_JSON="false",
            KEFU_PUBLIC_BASE_URL=f"http://127.0.0.1:{self.api_port}",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        self.env = env
        return env

    def kefu(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            env=self.env,
            cwd=str(ROOT),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and out.returncode != 0:
            raise RuntimeError(f"kefu {' '.join(args)} failed: {out.stderr[-2000:]}")
        return out.stdout.strip()

    def start_api(self) -> None:
        self.api = self._start(
            "api",
            [
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "--port",
                str(self.api_port),
                "--workers",
                str(self.api_workers),
            ],
            self.env,
        )

        def ready() -> bool:
            url = f"http://127.0.0.1:{self.api_port}/readyz"
            with urllib.request.urlopen(url, timeout=3) as r:
                return bool(r.status == 200)

        wait_until(ready, timeout=180, what="kefu serve /readyz")
        wait_until(
            lambda: len(self.api_worker_pids()) >= self.api_workers,
            timeout=60,
            what="API workers",
        )

    def api_worker_pids(self) -> list[int]:
        if self.api is None or not self.api.alive():
            return []
        return [p for p in children(self.api.pid) if "spawn_main" in cmdline(p)]

    def start_celery(self, n: int | None = None) -> Proc:
        n = len(self.procs) if n is None else n
        proc = self._start(
            f"celery{n}",
            [sys.executable, "-m", "app.cli", "worker", "--concurrency", "1", "--loglevel", "INFO"],
            self.env,
        )
        self.celery.append(proc)
        return proc

    # -- teardown ----------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.stop(timeout=10)
        if self._pg_started:
            self.stop_pg("immediate")

    def remove(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        shutil.rmtree(self.pg_dir.parent, ignore_errors=True)
