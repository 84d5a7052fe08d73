#!/usr/bin/env bash
# The GPU checks, in one script: the gpu crate's CUDA tests, the upload benchmark, and
# `weightmap upload --verify` on a GGUF model, a safetensors file and a sharded safetensors
# model, on the CUDA device 0.
#
#   gpu/check.sh build   compile everything the checks run into target/gpu-check/ (release,
#                        no debug info, stripped), on any machine with the Rust toolchain
#   gpu/check.sh run     run them from target/gpu-check/: on the GPU machine, which needs no
#                        toolchain and no network (outputs under $OUT, else target/gpu-check/out)
#   gpu/check.sh         both, on a machine that has the toolchain and a GPU
#
# CHECK_MIB (default 1024) sizes the uploaded models, CHECK_BENCH_MIB (default 2048) the
# benchmark's.
#
# Without a CUDA device every check still runs: the tests print "skipped: no CUDA device", the
# benchmark measures the host side only, and `upload` reports that there is no GPU (exit 1,
# which this script expects there).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=target/gpu-check
mode="${1:-all}"

build() {
  rm -rf "$dir"
  mkdir -p "$dir/bin"
  export CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_BENCH_DEBUG=0
  cargo test -p weightmap-gpu --release --no-run --message-format=json > "$dir/artifacts.json"
  cargo bench -p weightmap-gpu --bench upload --no-run --message-format=json >> "$dir/artifacts.json"
  # Each test and bench executable, named after its target.
  python3 gpu/artifacts.py "$dir/artifacts.json" "$dir/bin"
  rm "$dir/artifacts.json"
  cargo build --release -p weightmap-gpu --example check_fixtures --quiet
  cargo build --release -p weightmap-cli --quiet
  cp target/release/examples/check_fixtures target/release/weightmap "$dir/bin/"
  strip "$dir"/bin/* 2>/dev/null || true
  du -sh "$dir"
  ls -l "$dir/bin"
}

run() {
  local out="${OUT:-$dir/out}"
  mkdir -p "$out"
  local bin="$dir/bin"
  [ -x "$bin/weightmap" ] || { echo "nothing built: run gpu/check.sh build first" >&2; exit 2; }
  local failed=0
  { command -v nvidia-smi >/dev/null && nvidia-smi -L && nvidia-smi --query-gpu=name,memory.total,driver_version,pcie.link.gen.max,pcie.link.width.max --format=csv; } \
    2>&1 | tee "$out/device.txt" || echo "no nvidia-smi" | tee "$out/device.txt"

  echo "== the gpu crate's tests (CUDA tests on device 0)"
  for t in "$bin"/test-*; do
    echo "-- $(basename "$t")"
    if ! "$t" --test-threads=1 --nocapture 2>&1 | tee "$out/$(basename "$t").log" | grep -E "^test |skipped|GB/s|test result"; then
      :
    fi
    grep -q "test result: ok" "$out/$(basename "$t").log" || { echo "FAILED: $(basename "$t")"; failed=1; }
  done

  echo "== the upload benchmark (a ${CHECK_BENCH_MIB:-2048} MiB generated model, 3 runs a row)"
  "$bin"/bench-upload --size-mib "${CHECK_BENCH_MIB:-2048}" --runs 3 2>&1 | tee "$out/bench-upload.log" || failed=1

  echo "== weightmap upload --verify: GGUF, safetensors, sharded safetensors"
  local models
  models=$("$bin"/check_fixtures "$out/models" "${CHECK_MIB:-1024}")
  local gpu=1
  for model in $models; do
    for fill in pread mmap; do
      echo "-- $model ($fill)"
      set +e
      "$bin"/weightmap upload --verify --json --fill "$fill" "$model" > "$out/upload.json" 2> "$out/upload.err"
      local status=$?
      set -e
      cat "$out/upload.json" "$out/upload.err"
      cat "$out/upload.json" >> "$out/uploads.jsonl"
      if [ "$status" -ne 0 ]; then
        if grep -qi "no CUDA\|no NVIDIA\|driver" "$out/upload.err"; then
          gpu=0
        else
          failed=1
        fi
      fi
    done
    # The host pipeline runs everywhere.
    "$bin"/weightmap upload --host --verify --json "$model" >> "$out/uploads-host.jsonl" || failed=1
  done
  rm -rf "$out/models"
  [ "$gpu" = 1 ] || echo "skipped: no CUDA device (weightmap upload said so)"
  if [ "$failed" = 0 ]; then echo "gpu checks passed"; else echo "gpu checks FAILED"; fi
  return "$failed"
}

case "$mode" in
  build) build ;;
  run) run ;;
  all) build && run ;;
  *) echo "usage: gpu/check.sh [build|run]" >&2; exit 2 ;;
esac
