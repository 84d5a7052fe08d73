#!/usr/bin/env bash
# Builds the demo page's WebAssembly package into wasm/www/pkg: the module compiled for
# wasm32-unknown-unknown (profile `wasm`: LTO, one codegen unit), optimized by wasm-opt, then
# wrapped for ES-module import by `wasm-bindgen --target web`. Prints the module's size.
#
# wasm-opt runs before wasm-bindgen: Debian 12's binaryen (108) cannot read the reference-types
# instructions wasm-bindgen 0.2.130 adds, but reads rustc's output; wasm-bindgen then fails
# loudly if optimization broke anything it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
out=wasm/www/pkg
raw=target/wasm32-unknown-unknown/wasm/weightmap_wasm.wasm

cargo build -p weightmap-wasm --target wasm32-unknown-unknown --profile wasm --quiet
mkdir -p target/wasm-opt
if command -v wasm-opt >/dev/null; then
  wasm-opt -O3 --all-features "$raw" -o target/wasm-opt/weightmap_wasm.wasm
else
  echo "wasm-opt not found (Debian: apt-get install binaryen); the module is not optimized" >&2
  cp "$raw" target/wasm-opt/weightmap_wasm.wasm
fi
rm -rf "$out"
wasm-bindgen --target web --out-dir "$out" target/wasm-opt/weightmap_wasm.wasm
wasm="$out/weightmap_wasm_bg.wasm"
printf 'built %s: %d bytes, %d gzipped (gzip -9)\n' "$wasm" "$(stat -c %s "$wasm")" "$(gzip -9c "$wasm" | wc -c)"
