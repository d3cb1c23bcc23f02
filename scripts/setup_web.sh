#!/usr/bin/env bash
# Install the browser parts of the app's camera widget into web/node_modules: @vladmandic/face-api 1.7.15
# (tiny face detector + expression net, TensorFlow.js bundled) and @tensorflow/tfjs-backend-wasm 4.22.0
# (its wasm binaries), exactly as web/package-lock.json locks them (npm ci checks every sha512).
# Run by `make env` (so by `make report` and `make test`). Idempotent: a stamp holds the lock's hash.
# Without npm, or without the npm registry, it says so and exits 0: the app then draws the box from the
# kernel (its status line says why) and chapter 01 reports backend E as unavailable.
set -euo pipefail
cd "$(dirname "$0")/../web"
stamp=node_modules/.emokit-web
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "warning: npm not found: the app's browser fast path and chapter 01's backend E need" \
       "web/node_modules (install node + npm, then run scripts/setup_web.sh)" >&2
  exit 0
fi
echo "==> npm ci in web/ (face-api for the app's browser fast path, about 12 MB)" >&2
if npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; then
  echo "$want" > "$stamp"
else
  echo "warning: npm ci failed in web/: the app's browser fast path and chapter 01's backend E are" \
       "unavailable until scripts/setup_web.sh succeeds" >&2
fi
