#!/usr/bin/env bash
# Builds the demo page (wasm/build.sh) and serves it on http://127.0.0.1:${PORT:-8000}/.
# Open that address and choose or drop a .gguf file: only its header is read.
set -euo pipefail
cd "$(dirname "$0")"
./build.sh
exec node js/serve.mjs "${PORT:-8000}"
