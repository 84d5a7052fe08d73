#!/usr/bin/env bash
# weightmap serve against nginx (sendfile on) on the same directory, on loopback, driven by
# wrk with random aligned byte ranges: 4 KiB, 1 MiB and 64 MiB, at 1 and 64 connections,
# warm page cache. Prints a Markdown table of requests/s, GB/s and the weightmap/nginx ratio.
#
#   tests/bench/serve.sh [SECONDS_PER_RUN]      (needs nginx and wrk: apt-get install nginx wrk)
#   SIZES="4096" tests/bench/serve.sh 10       (only the 4 KiB rows)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_RUN=${1:-5}
for tool in nginx wrk; do
  command -v "$tool" >/dev/null || PATH="$PATH:/usr/sbin"
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install nginx wrk)" >&2; exit 2; }
done
cargo build --release -q -p weightmap-cli
WM=target/release/weightmap

WORK=$(mktemp -d)
ROOT=$WORK/root
mkdir -p "$ROOT"
FILE_SIZE=$((1 << 30))
head -c $FILE_SIZE /dev/urandom > "$ROOT/model.bin"
cat "$ROOT/model.bin" > /dev/null   # warm the page cache

NGINX_PORT=18081
WM_PORT=18082
USER_LINE=""
[ "$(id -u)" = 0 ] && USER_LINE="user root;"
cat > "$WORK/nginx.conf" <<CONF
$USER_LINE
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
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
    location /files/ { alias $ROOT/; max_ranges 16; }
  }
}
CONF
nginx -c "$WORK/nginx.conf"
"$WM" serve "$ROOT" --addr 127.0.0.1:$WM_PORT > "$WORK/wm.out" 2> "$WORK/wm.err" &
WM_PID=$!
cleanup() {
  kill "$WM_PID" 2>/dev/null || true
  nginx -c "$WORK/nginx.conf" -s stop 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
sleep 1

# run NAME PORT SIZE CONNECTIONS -> "requests/s bytes/s errors"
run() {
  local port=$2 size=$3 conns=$4 threads=1
  [ "$conns" -gt 1 ] && threads=2
  local out
  out=$(RANGE_SIZE=$size FILE_SIZE=$FILE_SIZE wrk -t$threads -c"$conns" -d"${SECONDS_PER_RUN}s" --timeout 60s \
    -s tests/bench/range.lua "http://127.0.0.1:$port/files/model.bin" 2>&1)
  local rps errors
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  echo "$rps ${errors:-none}"
}

echo "| range | connections | nginx req/s | nginx GB/s | weightmap req/s | weightmap GB/s | weightmap / nginx | errors |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
for size in ${SIZES:-4096 1048576 67108864}; do
  for conns in 1 64; do
    read -r n_rps n_err <<<"$(run nginx $NGINX_PORT $size $conns)"
    read -r w_rps w_err <<<"$(run weightmap $WM_PORT $size $conns)"
    awk -v s="$size" -v c="$conns" -v n="$n_rps" -v w="$w_rps" -v ne="$n_err" -v we="$w_err" 'BEGIN {
      label = (s >= 1048576) ? (s / 1048576) " MiB" : (s / 1024) " KiB";
      printf "| %s | %d | %.0f | %.2f | %.0f | %.2f | %.2fx | nginx: %s; weightmap: %s |\n",
        label, c, n, n * s / 1e9, w, w * s / 1e9, w / n, ne, we }'
  done
done
