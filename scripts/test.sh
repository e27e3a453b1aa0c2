#!/usr/bin/env bash
# One command for the whole suite: test dependencies, lint, types, import contracts, tests.
# Needs PostgreSQL on 127.0.0.1:5432 (trust auth, database "test") and Redis on 6379;
# .ci/run starts them when they are not running.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1

# Everything comes from requirements-test.lock (scripts/lock.sh re-resolves it), so what runs
# here is what was tested. The lock pins torch's CPU build (2.13.0+cpu), which PyPI does not
# carry: pip finds it in a local wheel directory (find-links) or in KEFU_TORCH_INDEX, e.g.
# https://download.pytorch.org/whl/cpu.
if ! python -c "import torch, sys; sys.exit(torch.__version__ != '2.13.0+cpu')" 2>/dev/null; then
  echo "==> installing torch==2.13.0+cpu" >&2
  pip install -q "torch==2.13.0+cpu" --no-deps ${KEFU_TORCH_INDEX:+--extra-index-url "$KEFU_TORCH_INDEX"} || {
    echo "no torch 2.13.0+cpu wheel found: set KEFU_TORCH_INDEX=https://download.pytorch.org/whl/cpu" >&2
    exit 1
  }
fi
# pip spends half a minute confirming an unchanged lock is installed: a stamp of what was
# installed (the lock, pyproject.toml for the editable kefu, the interpreter) skips that.
stamp=.venv/.kefu-test-deps
want=$(cat requirements-test.lock pyproject.toml <(python -VV) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing kefu's locked test dependencies" >&2
  pip install -q -r requirements-test.lock
  pip install -q --no-deps -e .
  echo "$want" >"$stamp"
else
  echo "==> kefu's locked test dependencies already installed" >&2
fi
# A real vLLM (CPU build) in its own venv serves a tiny random Qwen3 for the LLM contract tests.
echo "==> vLLM (CPU) for the contract tests" >&2
bash scripts/install-vllm.sh

echo "==> ruff" >&2
ruff check .
echo "==> mypy" >&2
mypy
echo "==> import-linter" >&2
lint-imports
echo "==> pytest" >&2
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
