#!/usr/bin/env bash
# weightmap-remote against its peers on loopback, in one run:
#  1. the Gemma 3 270M header over HTTP (nginx): requests and bytes, `weightmap inspect URL`
#     against @huggingface/gguf 0.4.6 (counted from nginx's access log for both);
#  2. a 1 GiB safetensors model downloaded from nginx: `weightmap get` against curl and
#     `aria2c -x8 -s8`;
#  3. the same model from moto's S3 server: `weightmap get s3://…` against boto3's
#     `download_file` (and the AWS CLI's `aws s3 cp` when one is on PATH).
# Warm page cache on the server side; each download's output is deleted before the next and
# checked with sha256 after the last run. Prints Markdown tables.
#
#   tests/bench/remote.sh            (after ./test.sh: nginx, aria2, .venv, the Gemma file,
#   RUNS=5 tests/bench/remote.sh      wasm/node_modules; apt-get install aria2 for aria2c)
#   PARTS="header nginx" tests/bench/remote.sh   (some of: header nginx s3; all by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
PARTS=${PARTS:-header nginx s3}
part() { [[ " $PARTS " == *" $1 "* ]]; }
PY=${WEIGHTMAP_PYTHON:-$PWD/.venv/bin/python}
PATH="$PATH:/usr/sbin"
for tool in nginx curl aria2c node; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install nginx curl aria2 nodejs)" >&2; exit 2; }
done
[ -x "$PY" ] || { echo "needs the test venv ($PY): run ./test.sh first" >&2; exit 2; }
cargo build --release -q -p weightmap-cli
WM=$PWD/target/release/weightmap
GEMMA=$PWD/target/fixtures/gemma-3-270m-q4_k_m.gguf

WORK=$(mktemp -d)
ROOT=$WORK/root
OUT=$WORK/out
mkdir -p "$ROOT" "$OUT"
NGINX_PORT=18181
MOTO_PORT=18182
cleanup() {
  [ -n "${MOTO_PID:-}" ] && kill "$MOTO_PID" 2>/dev/null || true
  nginx -c "$WORK/nginx.conf" -s stop 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# A 1 GiB safetensors model: 16 F16 tensors of 64 MiB of random bytes.
"$PY" - "$ROOT/model.safetensors" <<'PY'
import json, os, struct, sys
n, size = 16, 64 << 20
header = {f"layers.{i}.weight": {"dtype": "F16", "shape": [8192, 4096],
          "data_offsets": [i * size, (i + 1) * size]} for i in range(n)}
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text)
    for _ in range(n):
        f.write(os.urandom(size))
PY
cat "$ROOT/model.safetensors" > /dev/null
[ -f "$GEMMA" ] && ln -s "$GEMMA" "$ROOT/gemma.gguf"
MODEL_SUM=$(sha256sum "$ROOT/model.safetensors" | cut -d' ' -f1)

USER_LINE=""
[ "$(id -u)" = 0 ] && USER_LINE="user root;"
cat > "$WORK/nginx.conf" <<CONF
$USER_LINE
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  log_format counted '\$request_method \$uri \$status \$body_bytes_sent "\$http_range"';
  access_log $WORK/access.log counted;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/body;
  proxy_temp_path $WORK/proxy;
  fastcgi_temp_path $WORK/fastcgi;
  uwsgi_temp_path $WORK/uwsgi;
  scgi_temp_path $WORK/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location /files/ { alias $ROOT/; }
  }
}
CONF
nginx -c "$WORK/nginx.conf"
BASE=http://127.0.0.1:$NGINX_PORT/files

# Requests and body bytes nginx logged since the log was emptied.
logged() { awk '{ n++; b += $4 } END { printf "%d %d", n, b }' "$WORK/access.log"; }

if part header; then
echo "## The Gemma header over HTTP (nginx access log)"
echo
if [ -f "$GEMMA" ] && [ -d wasm/node_modules/@huggingface/gguf ]; then
  echo "| reader | requests | bytes | tensors |"
  echo "| --- | ---: | ---: | ---: |"
  : > "$WORK/access.log"
  tensors=$("$WM" inspect --json "$BASE/gemma.gguf" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["tensors"]))')
  sleep 0.5
  read -r n b <<< "$(logged)"
  echo "| weightmap inspect URL | $n | $b | $tensors |"
  : > "$WORK/access.log"
  tensors=$(node wasm/js/header-over-http.mjs "$BASE/gemma.gguf" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["tensors"])')
  sleep 0.5
  read -r n b <<< "$(logged)"
  echo "| @huggingface/gguf 0.4.6 | $n | $b | $tensors |"
else
  echo "skipped: needs $GEMMA and wasm/node_modules (./test.sh makes both)"
fi
echo
fi

# Runs "$@" RUNS times (output FILE deleted before each), prints a table row of seconds,
# then checks FILE's sha256.
row() {
  local name=$1 file=$2
  shift 2
  local times=()
  for _ in $(seq "$RUNS"); do
    rm -rf "$OUT"/*
    local start end
    start=$(date +%s.%N)
    "$@" > "$WORK/cmd.log" 2>&1 || { cat "$WORK/cmd.log" >&2; echo "$name failed" >&2; exit 1; }
    end=$(date +%s.%N)
    times+=("$("$PY" -c "print(f'{$end - $start:.3f}')")")
  done
  local sum
  sum=$(sha256sum "$file" | cut -d' ' -f1)
  [ "$sum" = "$MODEL_SUM" ] || { echo "$name: the download differs (sha256)" >&2; exit 1; }
  local best
  best=$(printf '%s\n' "${times[@]}" | sort -n | head -1)
  echo "| $name | ${times[*]} | $best | $("$PY" -c "print(f'{(1 << 30) / $best / 1e9:.2f}')") |"
}

if part nginx; then
echo "## 1 GiB from nginx (seconds per run, wall clock; GB/s of the best)"
echo
echo "| tool | runs (s) | best (s) | GB/s |"
echo "| --- | --- | ---: | ---: |"
access_off() { : > "$WORK/access.log"; }
access_off
row "weightmap get" "$OUT/model.safetensors" "$WM" get "$BASE/model.safetensors" -o "$OUT/model.safetensors"
row "curl" "$OUT/model.safetensors" curl -sf -o "$OUT/model.safetensors" "$BASE/model.safetensors"
row "aria2c -x8 -s8" "$OUT/model.safetensors" aria2c -q -x8 -s8 --file-allocation=none -d "$OUT" -o model.safetensors "$BASE/model.safetensors"
echo
fi
part s3 || exit 0

echo "## 1 GiB from moto's S3 server (seconds per run, wall clock; GB/s of the best)"
echo
"$(dirname "$PY")/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" > "$WORK/moto.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$MOTO_PORT" && break; sleep 0.2; done
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT=http://127.0.0.1:$MOTO_PORT AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT AWS_ALLOW_HTTP=true
"$PY" - "$ROOT/model.safetensors" <<'PY'
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
s3.create_bucket(Bucket="bench")
s3.upload_file(sys.argv[1], "bench", "model.safetensors")
PY
cat > "$WORK/boto3_get.py" <<'PY'
import os, sys, boto3
boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).download_file("bench", "model.safetensors", sys.argv[1])
PY
echo "| tool | runs (s) | best (s) | GB/s |"
echo "| --- | --- | ---: | ---: |"
row "weightmap get s3://" "$OUT/model.safetensors" "$WM" get s3://bench/model.safetensors -o "$OUT/model.safetensors"
row "boto3 download_file" "$OUT/model.safetensors" "$PY" "$WORK/boto3_get.py" "$OUT/model.safetensors"
if command -v aws >/dev/null && aws --version >/dev/null 2>&1; then
  row "aws s3 cp" "$OUT/model.safetensors" aws s3 cp --only-show-errors s3://bench/model.safetensors "$OUT/model.safetensors"
else
  echo "(no AWS CLI on PATH: aws s3 cp not measured)"
fi
