#!/usr/bin/env bash
# The pod figure: N `wagate-session` processes (N = 50 by default), each what one session
# pod runs, each linked to the protocol simulator (tests/wa-sim) as its own number and left
# idle `connected`. Prints one table: RSS per process (mean, max), of which anonymous (heap,
# stacks: what no other pod shares), proportional set size (shared pages split between the
# processes, as a node pays them), and the threads each runs.
#   scripts/pods.sh              # builds release (test build: skips WhatsApp's cert chain)
#   PODS=20 scripts/pods.sh      # IDLE_SECS (20) settles the sessions before measuring
set -euo pipefail
cd "$(dirname "$0")/.."
# The real engine can only reach the simulator when built with the test-only feature.
# (Two builds: `--features pkg/feature` next to a second `-p` is not applied.)
cargo build --release -q --target-dir target/wa-sim-release -p wagate-wa-sim
cargo build --release -q --target-dir target/wa-sim-release -p wagate-session \
  --features danger-skip-cert-chain-verify
sim_bin=$PWD/target/wa-sim-release/release/wagate-wa-sim
session_bin=$PWD/target/wa-sim-release/release/wagate-session
pods=${PODS:-50}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
echo "bench-key" >"$work/key"
sim=127.0.0.1:18491
"$sim_bin" --listen "$sim" >/dev/null 2>&1 &
for _ in $(seq 50); do curl -sf "$sim/healthz" >/dev/null && break; sleep 0.1; done

pids=()
for n in $(seq "$pods"); do
  id=$(printf 'pod-%03d' "$n")
  port=$((18500 + n))
  # As in a pod, minus the fleet spread (these are linked one by one, not restarted).
  "$session_bin" --session-id "$id" --engine whatsapp --data-dir "$work/$id" \
    --whatsapp-ws-url "ws://$sim/ws/chat" --whatsapp-version 2.3000.1023456789 \
    --connect-spread-secs 0 --listen "127.0.0.1:$port" --api-key-file "$work/key" \
    >"$work/$id.log" 2>&1 &
  pids+=("$!")
done
link() { # n: scan pod-n's QR as its own number, wait until it is connected
  local id port api qr="" phone
  id=$(printf 'pod-%03d' "$1") port=$((18500 + $1)) phone=$(printf '97155%07d' "$1")
  api="127.0.0.1:$port/v1/sessions/$id"
  for _ in $(seq 300); do
    qr=$(curl -sf -H 'authorization: Bearer bench-key' "$api/qr?format=json" |
      sed -nE 's/.*"qr":"([^"]+)".*/\1/p') && [ -n "$qr" ] && break
    sleep 0.1
  done
  curl -sf -H 'content-type: application/json' -d "{\"qr\":\"$qr\",\"phone\":\"$phone\"}" \
    "$SIM/phone/scan" >/dev/null
  for _ in $(seq 300); do
    curl -sf -H 'authorization: Bearer bench-key' "$api" | grep -q '"status":"connected"' && return
    sleep 0.1
  done
  echo "$id did not connect; see its log" >&2
  return 1
}
export -f link
export SIM=$sim
seq "$pods" | xargs -P 8 -I{} bash -c 'link {}'
sleep "${IDLE_SECS:-20}"
for p in "${pids[@]}"; do
  kill -0 "$p" 2>/dev/null || { echo "session process $p exited:" >&2; tail -5 "$work"/pod-*.log >&2; exit 1; }
done

field() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/${3:-status}"; } # pid name [file]
mean_max() { # divisor: "mean max" of the numbers on stdin, divided
  awk -v d="$1" '{s += $1; if ($1 > m) m = $1} END {printf "%.1f / %.1f", s / NR / d, m / d}'
}
each() { for p in "${pids[@]}"; do field "$p" "$@"; done; }
printf '%5s %18s %18s %18s %12s\n' pods 'RSS MiB mean/max' 'anon MiB mean/max' \
  'PSS MiB mean/max' 'threads'
printf '%5d %18s %18s %18s %12s\n' "$pods" "$(each VmRSS | mean_max 1024)" \
  "$(each RssAnon | mean_max 1024)" "$(each Pss smaps_rollup | mean_max 1024)" \
  "$(each Threads | mean_max 1)"
