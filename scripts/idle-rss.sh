#!/usr/bin/env bash
# Resident memory of one idle wagate-session process per engine.
#   scripts/idle-rss.sh            # builds release, prints "engine  RSS" lines
# The simulator session is linked (connected) first; the real engine, which cannot reach
# WhatsApp here, idles in `connecting` (its store open, backing off).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p wagate-session
bin=target/release/wagate-session
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
echo "bench-key" > "$work/key"

measure() { # engine port
  local engine=$1 port=$2
  "$bin" --session-id "idle_$engine" --engine "$engine" --data-dir "$work/$engine" \
    --listen "127.0.0.1:$port" --api-key-file "$work/key" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  if [ "$engine" = simulator ]; then
    curl -sf -X POST -H 'authorization: Bearer bench-key' "127.0.0.1:$port/v1/sessions/idle_$engine/sandbox/scan" >/dev/null
  fi
  sleep "${IDLE_SECS:-10}"
  local status
  status=$(curl -sf -H 'authorization: Bearer bench-key' "127.0.0.1:$port/v1/sessions/idle_$engine" | sed -E 's/.*"status":"([a-z_]+)".*/\1/')
  printf '%-10s %6s KiB  (status %s)\n' "$engine" "$(awk '/VmRSS/ {print $2}' /proc/$pid/status)" "$status"
  kill -TERM "$pid"; wait "$pid" || true
}

measure simulator 18181
measure whatsapp 18182
