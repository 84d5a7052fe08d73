#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (nightly + cargo-fuzz 0.13.2), under AddressSanitizer
# unless FUZZ_SANITIZER says otherwise (`none` runs about 2x faster for long sessions).
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     default: 60 s, all targets
# Seeds for `safetensors` and `shard_index` are tests/py/gen_safetensors.py's files and the
# hostile safetensors corpus. Seeds for `parse` and `prefix` are the official writer's fixtures (tests/py/gen_fixtures.py,
# files up to 150 KB), the committed sample and the hostile corpus (tests/hostile/); every
# target also starts from its committed regressions. A crash leaves its input in fuzz/artifacts/TARGET/ and fails the script: copy it
# to fuzz/regressions/TARGET/, fix the bug, and `cargo test` replays it on stable from then on.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parse prefix ranges structured safetensors shard_index dequant)
python="${WEIGHTMAP_PYTHON:-../.venv/bin/python}"

seeds=../target/fuzz-seeds
if [ ! -f "$seeds/.done" ]; then
  mkdir -p "$seeds"
  "$python" ../tests/py/gen_fixtures.py "$seeds" > /dev/null
  touch "$seeds/.done"
fi
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  cp -n regressions/"$t"/* "corpus/$t/" 2>/dev/null || true
done
for t in parse prefix; do
  mkdir -p "corpus/$t"
  find "$seeds" -name '*.gguf' -size -150k -exec cp -n {} "corpus/$t/" \;
  cp -n ../samples/tiny-llama.gguf ../tests/hostile/*.gguf "corpus/$t/" || true
done
if [ ! -f "$seeds/safetensors/.done" ]; then
  mkdir -p "$seeds/safetensors"
  "$python" ../tests/py/gen_safetensors.py "$seeds/safetensors" > /dev/null
  touch "$seeds/safetensors/.done"
fi
mkdir -p corpus/safetensors corpus/shard_index
find "$seeds/safetensors" -name '*.safetensors' -size -150k -exec cp -n {} corpus/safetensors/ \;
cp -n ../tests/hostile-safetensors/*.safetensors corpus/safetensors/ || true
find "$seeds/safetensors" -name '*.index.json' -exec cp -n {} corpus/shard_index/ \;

for t in "${targets[@]}"; do
  max_len=65536
  dict=gguf.dict
  [ "$t" = prefix ] && max_len=4096
  case "$t" in safetensors|shard_index) dict=safetensors.dict ;; esac
  echo "fuzzing $t for ${seconds}s"
  cargo +nightly fuzz run --sanitizer "${FUZZ_SANITIZER:-address}" "$t" "corpus/$t" -- \
    -dict="$dict" -max_total_time="$seconds" -max_len="$max_len" \
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 \
    | tee "../target/fuzz-$t.log" | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==ERROR|SUMMARY|Test unit written)' || true
  # A crash makes libFuzzer exit non-zero; tee hides that, so check the log.
  if grep -qE '^==[0-9]+==ERROR|Test unit written|panicked at' "../target/fuzz-$t.log"; then
    echo "fuzz target $t crashed; see target/fuzz-$t.log and fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
