"""The CLI as users run it: real subprocesses on a fresh data directory."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.served import free_port, stop, wait_ready

KEFU = [sys.executable, "-m", "app.cli"]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env["KEFU_DATA_DIR"] = str(data_dir)
    return env


def _run(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*KEFU, *args], env=_env(data_dir), capture_output=True, text=True, timeout=120
    )


def test_keys_create_prints_only_the_key(tmp_path: Path) -> None:
    out = _run(["keys", "create", "--role", "admin", "--name", "ops"], tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kefu_")

    listed = _run(["keys", "list", "--json"], tmp_path)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["name"], r["role"], r["revoked"]) for r in rows] == [("ops", "admin", False)]
    assert lines[0] not in listed.stdout

    assert _run(["keys", "revoke", str(rows[0]["id"])], tmp_path).returncode == 0
    rows = [
        json.loads(line) for line in _run(["keys", "list", "--json"], tmp_path).stdout.splitlines()
    ]
    assert rows[0]["revoked"] is True
    missing = _run(["keys", "revoke", "999"], tmp_path)
    assert missing.returncode == 1 and "no key" in missing.stderr


def test_bad_role_is_a_usage_error(tmp_path: Path) -> None:
    out = _run(["keys", "create", "--role", "root", "--name", "x"], tmp_path)
    assert out.returncode == 2 and "root" in out.stderr


def _stored_origins(data_dir: Path) -> list[list[str]]:
    with sqlite3.connect(data_dir / "kefu.db") as db:
        return [json.loads(row[0]) for row in db.execute("SELECT allowed_origins FROM api_keys")]


def test_keys_create_checks_and_normalises_origins(tmp_path: Path) -> None:
    """They go into the widget frame's CSP header: a bad one is a usage error naming it."""
    create = ["keys", "create", "--role", "client", "--name", "shop"]
    bad = "https://shop.example.com; frame-ancestors *"
    out = _run([*create, "--origin", "https://ok.example.com", "--origin", bad], tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert f"error: invalid origin {bad!r}" in out.stderr
    assert _run(["keys", "list", "--json"], tmp_path).stdout == ""  # nothing stored

    origins = ["HTTPS://Shop.Example.com:443/", "https://shop.example.com", "https://*.example.com"]
    out = _run([*create, *(arg for o in origins for arg in ("--origin", o))], tmp_path)
    assert out.returncode == 0, out.stderr
    assert _stored_origins(tmp_path) == [["https://shop.example.com", "https://*.example.com"]]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*KEFU, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=_env(tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc, log=log, timeout=90)
        yield base, tmp_path
    finally:
        stop(proc)


def test_serve_migrates_and_is_ready_then_keys_work(served: tuple[str, Path]) -> None:
    base, data_dir = served
    ready = httpx.get(f"{base}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    components = ready.json()["components"]
    assert components["warmup"]["state"] == "ready" and components["warmup"]["ms"] > 0
    assert all(c["state"] in ("ready", "not_configured") for c in components.values())
    assert (data_dir / "kefu.db").exists()

    admin = _run(["keys", "create", "--role", "admin", "--name", "a"], data_dir).stdout.strip()
    dify = _run(["keys", "create", "--role", "dify", "--name", "d"], data_dir).stdout.strip()
    ok = httpx.get(f"{base}/admin/api-keys", headers={"Authorization": f"Bearer {admin}"})
    assert ok.status_code == 200 and len(ok.json()) == 2
    denied = httpx.get(f"{base}/admin/api-keys", headers={"Authorization": f"Bearer {dify}"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"


def test_ingest_folder_then_again_is_a_no_op(tmp_path: Path) -> None:
    kb_dir = tmp_path / "kb"
    kb_dir.mkdir()
    (kb_dir / "returns.md").write_text("# Returns\n\nUnopened items can be returned in 7 days.\n")
    (kb_dir / "faq.csv").write_text("question,answer\nDo you ship abroad?,Yes, to 30 countries.\n")
    (kb_dir / "notes.xyz").write_text("ignored: not a supported type")
    data = tmp_path / "data"

    first = _run(["ingest", str(kb_dir), "--kb", "shop"], data)
    assert first.returncode == 0, first.stderr
    assert "returns.md" in first.stderr and "faq.csv" in first.stderr
    assert first.stderr.count("ready") == 2 and "notes.xyz" not in first.stderr

    again = _run(["ingest", str(kb_dir), "--kb", "shop"], data)
    assert again.returncode == 0, again.stderr
    assert "2 file(s) unchanged" in again.stderr


def test_ingest_folder_indexes_the_good_files_and_lists_the_bad_ones(tmp_path: Path) -> None:
    kb_dir = tmp_path / "kb"
    kb_dir.mkdir()
    (kb_dir / "returns.md").write_text("# Returns\n\nUnopened items can be returned in 7 days.\n")
    (kb_dir / "shipping.md").write_text("# Shipping\n\nOrders ship within two working days.\n")
    (kb_dir / "empty-notes.md").write_text("  \n")
    (kb_dir / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    data = tmp_path / "data"

    out = _run(["ingest", str(kb_dir), "--kb", "shop"], data)
    assert out.returncode == 1, out.stderr
    failed = {
        line.split(": ", 2)[1].rsplit("/", 1)[-1]: line.split(": ", 2)[2]
        for line in out.stderr.splitlines()
        if line.startswith("failed: ")
    }
    assert set(failed) == {"empty-notes.md", "broken.pdf"}, out.stderr
    assert "is empty" in failed["empty-notes.md"]
    assert "pdf" in failed["broken.pdf"].lower()

    with sqlite3.connect(data / "kefu.db") as db:
        rows = dict(db.execute("SELECT name, status FROM documents").fetchall())
    assert rows == {"returns.md": "ready", "shipping.md": "ready", "broken.pdf": "failed"}


def test_ingest_reports_a_failed_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 not really")
    out = _run(["ingest", str(bad), "--kb", "shop"], tmp_path / "data")
    assert out.returncode == 1
    assert "failed" in out.stderr


def test_reindex_drop_rebuilds_the_vectors_from_the_stored_originals(tmp_path: Path) -> None:
    kb_dir = tmp_path / "kb"
    kb_dir.mkdir()
    (kb_dir / "returns.md").write_text("# Returns\n\nUnopened items can be returned in 7 days.\n")
    data = tmp_path / "data"
    assert _run(["ingest", str(kb_dir), "--kb", "shop"], data).returncode == 0

    out = _run(["reindex", "--drop"], data)
    assert out.returncode == 0, out.stderr
    assert "dropped collection kefu_chunks_" in out.stderr
    assert "shop: 1 document(s) queued" in out.stderr
    with sqlite3.connect(data / "kefu.db") as db:
        rows = db.execute("select version, indexed_version, status from documents").fetchall()
    assert rows == [(2, 2, "ready")]
    answer = _run(["chat", "-m", "can I return unopened items?", "--json"], data)
    assert answer.returncode == 0, answer.stderr
    assert "returns.md" in answer.stdout


def test_milvus_lite_3_data_is_refused_with_the_way_out(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "milvus.db" / "collections").mkdir(parents=True)
    out = _run(["reindex"], data)
    assert out.returncode != 0
    assert "Milvus Lite 3.x data directory" in out.stderr and "kefu reindex" in out.stderr
