#!/usr/bin/env bash
# Re-resolve the pinned dependency sets from pyproject.toml, then run scripts/test.sh and
# commit the three locks together:
#   bash scripts/lock.sh             after changing dependencies (other pins stay as they are)
#   bash scripts/lock.sh --upgrade   to take the newest releases of everything
#   requirements-test.lock  runtime + st + test extras (scripts/test.sh, .ci/run), Linux x86_64
#   requirements-st.lock    runtime + st extra (the Docker image), Linux x86_64
#   requirements.lock       runtime only (scripts/quickstart.sh), any platform
# The two smaller sets are constrained by the test set, so every lock pins the same versions.
# torch is locked as its CPU build (+cpu), resolved from KEFU_TORCH_FIND_LINKS (or
# PIP_FIND_LINKS) when set, else from the PyTorch CPU index (KEFU_TORCH_INDEX).
set -euo pipefail
cd "$(dirname "$0")/.."

# uv is in the test lock, so the test venv has it; elsewhere: pip install uv.
if ! command -v uv >/dev/null && [ -x .venv/bin/uv ]; then PATH="$PWD/.venv/bin:$PATH"; fi
command -v uv >/dev/null || { echo "scripts/lock.sh needs uv: pip install uv" >&2; exit 1; }
find_links=${KEFU_TORCH_FIND_LINKS:-${PIP_FIND_LINKS:-}}
if [ -n "$find_links" ]; then
  torch_source=(--find-links "$find_links")
else
  torch_source=(--extra-index-url "${KEFU_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
                --index-strategy unsafe-best-match)
fi
# Pins already in the locks are kept unless --upgrade (or --upgrade-package NAME) is given.
common=(--python-version 3.11 --quiet --no-header "$@")
linux=(--python-platform x86_64-manylinux_2_28)
torch_cpu=scripts/torch-cpu.txt

uv pip compile pyproject.toml --extra st --extra test "${common[@]}" "${linux[@]}" \
  "${torch_source[@]}" -c "$torch_cpu" -o requirements-test.lock
uv pip compile pyproject.toml --extra st "${common[@]}" "${linux[@]}" \
  "${torch_source[@]}" -c requirements-test.lock -o requirements-st.lock
uv pip compile pyproject.toml "${common[@]}" --universal \
  -c requirements-test.lock -o requirements.lock
echo "locked: requirements.lock requirements-st.lock requirements-test.lock" >&2
