# Sourced by scripts/test.sh and scripts/install-vllm.sh (not run on its own).
#   find_uv PYTHON            sets UV to a uv binary: KEFU_UV, the test venv's, one on PATH,
#                             or the lock's uv pip-installed into PYTHON's venv; empty if none
#   pkg_install PYTHON ARG..  `pip install ARG..` into PYTHON's venv, done by uv when there is
#                             one (seconds where pip takes minutes), by pip when uv fails
# uv reads no pip configuration: scripts/pip_sources.py passes it the find-links, indexes,
# constraints and certificate pip would use, so both find the same wheels (e.g. torch's
# +cpu build in a local wheel directory).

UV=""
find_uv() {
  local python=$1 candidate version
  for candidate in "${KEFU_UV:-}" .venv/bin/uv "$(command -v uv || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" --version >/dev/null 2>&1; then
      UV=$candidate
      return 0
    fi
  done
  version=$(sed -n 's/^uv==//p' requirements-test.lock)
  if "$python" -m pip install -q "uv${version:+==$version}" >&2 &&
    [ -x "$(dirname "$python")/uv" ]; then
    UV=$(dirname "$python")/uv
  else
    echo "==> no uv (pip install uv failed): installing with pip" >&2
    UV=""
  fi
}

pkg_install() {
  local python=$1 sources
  shift
  if [ -n "$UV" ]; then
    if sources=$("$python" "$(dirname "${BASH_SOURCE[0]}")/pip_sources.py"); then
      local -a args
      mapfile -t args <<<"$sources"
      # --compile-bytecode: pip writes .pyc files as it installs, uv only when asked; without
      # them every process compiles what it imports (seconds per `kefu` subprocess), since
      # this environment may not write bytecode at run time (PYTHONDONTWRITEBYTECODE).
      if "$UV" pip install --python "$python" --compile-bytecode "${args[@]}" "$@"; then
        return 0
      fi
    fi
    echo "==> uv pip install $* failed: trying pip" >&2
  fi
  "$python" -m pip install "$@"
}
