"""``kefu demo-data`` as users run it: a real subprocess on a fresh embedded database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def _run(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env["KEFU_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "demo-data"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_demo_data_command_is_idempotent(tmp_path: Path) -> None:
    counts = []
    for _ in range(2):
        out = _run(tmp_path)
        assert out.returncode == 0, out.stderr
        assert "5 customers, 15 bills, 6 orders, 5 memberships" in out.stderr
        with sqlite3.connect(tmp_path / "kefu.db") as db:
            counts.append(
                [
                    db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                    for table in ("customers", "bills", "bill_items", "orders", "order_items")
                ]
            )
    assert counts[0] == counts[1] == [5, 15, 27, 6, 8]
