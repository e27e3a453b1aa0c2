"""``kefu serve --workers N``: each worker process counts in its own files under
PROMETHEUS_MULTIPROC_DIR, and /metrics (asked of any worker) adds them up; a worker that died
keeps its counts (history) but not its live gauges."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import values as prometheus_values

from app.observability import exposition
from tests.observability.conftest import Samples

ROOT = Path(__file__).resolve().parents[2]
WORKER = """
import sys
from app.observability import metrics
metrics.TURNS.labels(channel="widget", route="faq").inc({turns})
metrics.LLM_TOKENS.labels(kind="prompt").inc({tokens})
metrics.breaker_state("{breaker}")
print("counted", flush=True)
sys.stdin.read()  # stays alive (a live worker) until the test closes stdin
"""


def _worker(turns: int, tokens: int, breaker: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER.format(turns=turns, tokens=tokens, breaker=breaker)],
        cwd=ROOT,
        env=os.environ.copy(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "counted"
    return proc


def _end(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0


def test_two_workers_add_up_and_a_dead_one_loses_its_live_gauge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"left by an earlier run")
    monkeypatch.setenv(exposition.ENV, "")  # restored after the test
    # prepare_multiprocess switches this process's metric values to files, as a server or
    # worker process wants; the rest of the test session counts in memory again.
    monkeypatch.setattr(prometheus_values, "ValueClass", prometheus_values.ValueClass)
    exposition.prepare_multiprocess(directory)
    assert os.environ[exposition.ENV] == str(directory)
    assert not list(directory.iterdir())  # an earlier run's counts are gone

    dead = _worker(turns=1, tokens=100, breaker="open")
    _end(dead)
    alive = _worker(turns=2, tokens=20, breaker="half_open")
    try:
        samples = Samples.parse(exposition.latest().decode())
    finally:
        _end(alive)

    assert samples.value("kefu_turns_total", channel="widget", route="faq") == 3
    assert samples.value("kefu_llm_tokens_total", kind="prompt") == 120
    # livemax over the live workers only: the dead one's "open" no longer counts.
    assert samples.value("kefu_llm_breaker_state") == 1
