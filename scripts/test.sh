#!/usr/bin/env bash
# One command for the whole suite: test dependencies, lint, types, import contracts, tests.
# Needs PostgreSQL on 127.0.0.1:5432 (trust auth, database "test") and Redis on 6379;
# .ci/run starts them when they are not running.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's line says when it began (seconds into this script), so a log shows the phases.
say() { echo "==> [$SECONDS s] $*" >&2; }
# The repository's own modules are imported afresh by every `kefu` subprocess the tests start
# (over a hundred): bytecode written once spares each of them compiling app/ again, half a
# second apiece, where the environment says not to write it.
unset PYTHONDONTWRITEBYTECODE

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1

# shellcheck source=scripts/pkg-install.sh
. scripts/pkg-install.sh
find_uv .venv/bin/python

# The vLLM (CPU) venv for the contract tests in tests/vllm installs meanwhile, in the
# background (mostly waiting on disk and network, then half a minute importing vllm to check
# it); pytest starts once it is done.
vllm_log=$(mktemp)
say "vLLM (CPU) for the contract tests, in the background"
KEFU_UV=$UV bash scripts/install-vllm.sh >"$vllm_log" 2>&1 &
vllm_pid=$!
trap 'kill "$vllm_pid" 2>/dev/null || true; rm -f "$vllm_log"' EXIT

# Everything comes from requirements-test.lock (scripts/lock.sh re-resolves it), so what runs
# here is what was tested. The lock pins torch's CPU build (2.13.0+cpu), which PyPI does not
# carry: it comes from a local wheel directory (pip's find-links) or from KEFU_TORCH_INDEX,
# e.g. https://download.pytorch.org/whl/cpu.
torch_index=(${KEFU_TORCH_INDEX:+--extra-index-url "$KEFU_TORCH_INDEX"})
if ! python -c "import torch, sys; sys.exit(torch.__version__ != '2.13.0+cpu')" 2>/dev/null; then
  say "installing torch==2.13.0+cpu"
  pkg_install .venv/bin/python -q "torch==2.13.0+cpu" --no-deps "${torch_index[@]}" || {
    echo "no torch 2.13.0+cpu wheel found: set KEFU_TORCH_INDEX=https://download.pytorch.org/whl/cpu" >&2
    exit 1
  }
fi
# Confirming an unchanged lock is installed takes pip half a minute: a stamp of what was
# installed (the lock, pyproject.toml for the editable kefu, the interpreter) skips that.
stamp=.venv/.kefu-test-deps
want=$(cat requirements-test.lock pyproject.toml <(python -VV) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing kefu's locked test dependencies"
  pkg_install .venv/bin/python -q -r requirements-test.lock "${torch_index[@]}"
  pkg_install .venv/bin/python -q --no-deps -e .
  echo "$want" >"$stamp"
else
  say "kefu's locked test dependencies already installed"
fi

say "ruff"
ruff check .
say "mypy"
mypy
say "import-linter"
lint-imports
say "vLLM (CPU) for the contract tests: waiting for its install"
vllm_status=0
wait "$vllm_pid" || vllm_status=$?
cat "$vllm_log" >&2
[ "$vllm_status" -eq 0 ] || { echo "scripts/install-vllm.sh failed ($vllm_status)" >&2; exit 1; }
say "pytest"
set +e
python -m pytest "$@"
status=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure here, not a pass.
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$status"
