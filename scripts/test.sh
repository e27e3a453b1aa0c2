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

# torch first and pinned: an unpinned torch (pulled in by sentence-transformers) is a
# multi-GB CUDA build. Set KEFU_TORCH_INDEX to a CPU wheel index where no local wheel exists.
if ! python -c "import torch" 2>/dev/null; then
  echo "==> installing torch==2.13.0 (CPU)" >&2
  pip install -q torch==2.13.0 ${KEFU_TORCH_INDEX:+--index-url "$KEFU_TORCH_INDEX"}
fi
echo "==> installing kefu with its test dependencies" >&2
pip install -q -e ".[test]"
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
