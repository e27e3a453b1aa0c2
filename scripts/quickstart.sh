#!/usr/bin/env bash
# One command from a fresh clone to a running service on its embedded defaults:
# a virtualenv, every dependency, the database migrated, an admin key printed, the demo
# knowledge base loaded, and the API on http://127.0.0.1:${KEFU_PORT:-8000}.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
"$PYTHON" - <<'PY' || { echo "kefu needs Python 3.11 or newer" >&2; exit 1; }
import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

# KEFU_VENV reuses an environment that already holds the locked dependencies (the quick
# start's own test points it at the test venv); by default the quick start makes .venv.
VENV=${KEFU_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
export PIP_DISABLE_PIP_VERSION_CHECK=1

echo "==> installing kefu and its locked dependencies (requirements.lock)" >&2
pip install -q -r requirements.lock >&2
pip install -q --no-deps -e . >&2

export KEFU_DATA_DIR=${KEFU_DATA_DIR:-./data}
mkdir -p "$KEFU_DATA_DIR"
kefu migrate >&2
echo "==> loading demo customers (bills, orders, memberships)" >&2
kefu demo-data >&2

key_file="$KEFU_DATA_DIR/quickstart-admin.key"
if [ ! -s "$key_file" ]; then
  (umask 077 && kefu keys create --role admin --name quickstart-admin > "$key_file")
fi

echo "==> loading the demo knowledge base (demo/kb)" >&2
kefu ingest demo/kb --kb demo >&2

cat >&2 <<MSG

  kefu is starting on http://${KEFU_HOST:-127.0.0.1}:${KEFU_PORT:-8000}
  admin API key (also in $key_file):

      $(cat "$key_file")

  try:  curl -s http://${KEFU_HOST:-127.0.0.1}:${KEFU_PORT:-8000}/readyz
        docs at /docs

MSG
exec kefu serve --host "${KEFU_HOST:-127.0.0.1}" --port "${KEFU_PORT:-8000}"
