#!/usr/bin/env bash
# Resident memory of one idle wagate-session process per engine.
#   scripts/idle-rss.sh            # builds release, prints "engine  RSS" lines
# The simulator session is linked (connected) first; the real engine, which cannot reach
# WhatsApp here, idles in `connecting` (its store open, backing off). Last, the real engine
# linked to the protocol simulator (tests/wa-sim) idles `connected`: that build carries the
# test-only danger-skip-cert-chain-verify feature, so it goes to its own target dir.
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

# The real engine, linked and connected to the protocol simulator.
# (Two builds: `--features pkg/feature` next to a second `-p` is not applied.)
cargo build --release -q --target-dir target/wa-sim-release -p wagate-wa-sim
cargo build --release -q --target-dir target/wa-sim-release -p wagate-session \
  --features danger-skip-cert-chain-verify
sim_bin=target/wa-sim-release/release/wagate-wa-sim
real_bin=target/wa-sim-release/release/wagate-session
"$sim_bin" --listen 127.0.0.1:18183 >/dev/null 2>&1 &
for _ in $(seq 50); do curl -sf 127.0.0.1:18183/healthz >/dev/null && break; sleep 0.1; done
"$real_bin" --session-id idle_linked --engine whatsapp --data-dir "$work/linked" \
  --whatsapp-ws-url ws://127.0.0.1:18183/ws/chat --whatsapp-version 2.3000.1023456789 \
  --listen 127.0.0.1:18184 --api-key-file "$work/key" >/dev/null 2>&1 &
pid=$!
api=127.0.0.1:18184/v1/sessions/idle_linked
qr=""
for _ in $(seq 100); do
  qr=$(curl -sf -H 'authorization: Bearer bench-key' "$api/qr?format=json" | sed -E 's/.*"qr":"([^"]+)".*/\1/') && break
  sleep 0.1
done
curl -sf -X POST -H 'content-type: application/json' -d "{\"qr\":\"$qr\"}" 127.0.0.1:18183/phone/scan >/dev/null
sleep "${IDLE_SECS:-10}"
status=$(curl -sf -H 'authorization: Bearer bench-key' "$api" | sed -E 's/.*"status":"([a-z_]+)".*/\1/')
printf '%-10s %6s KiB  (status %s, protocol simulator)\n' whatsapp "$(awk '/VmRSS/ {print $2}' /proc/$pid/status)" "$status"
kill -TERM "$pid"; wait "$pid" || true
