#!/usr/bin/env bash
# Resident memory of the standalone router with 1, 100 and 1,000 idle simulator sessions
# (each linked, then left alone).
#   scripts/router-rss.sh            # builds release, prints "sessions  RSS" lines
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p wagate-router
bin=$PWD/target/release/wagate-router
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
key=bench-key-0123456789
port=18281
"$bin" --data-dir "$work/data" --listen "127.0.0.1:$port" --engine simulator --api-key "$key" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
auth=(-H "authorization: Bearer $key" -H 'content-type: application/json')
created=0
for target in 1 100 1000; do
  while [ "$created" -lt "$target" ]; do
    id="idle-$created"
    curl -sf "${auth[@]}" -d "{\"sessionId\":\"$id\"}" "127.0.0.1:$port/v1/sessions" >/dev/null
    curl -sf "${auth[@]}" -X POST "127.0.0.1:$port/v1/sessions/$id/sandbox/scan" >/dev/null
    created=$((created + 1))
  done
  sleep "${IDLE_SECS:-5}"
  connected=$(curl -sf "${auth[@]}" "127.0.0.1:$port/v1/sessions?status=connected" | grep -o '"sessionId"' | wc -l)
  printf '%5d sessions  %7s KiB  (%d connected)\n' "$target" "$(awk '/VmRSS/ {print $2}' /proc/$pid/status)" "$connected"
done
