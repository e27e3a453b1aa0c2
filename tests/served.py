"""A ``kefu serve`` (or quick start) subprocess, waited on until ``/readyz`` says ready."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, proc: subprocess.Popen[bytes], *, log: Path, timeout: float) -> float:
    """Seconds until ``/readyz`` answered 200. Fails with the server's log if it exits, or
    if it is still not ready (503 ``starting`` while it warms up) at the deadline."""
    start = time.monotonic()
    last = "no answer"
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited ({proc.returncode}):\n{log.read_text()}")
        try:
            resp = httpx.get(f"{base}/readyz", timeout=5)
        except httpx.TransportError as exc:
            last = repr(exc)
        else:
            if resp.status_code == 200:
                return time.monotonic() - start
            last = resp.text
        time.sleep(0.2)  # polling a starting server, not synchronising on time
    raise AssertionError(f"not ready after {timeout:.0f} s: {last}\n{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
