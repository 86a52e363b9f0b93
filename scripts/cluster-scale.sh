#!/usr/bin/env bash
# The router's cluster backend at scale: one router process over a fake Kubernetes API
# (`wagate-e2e`'s fake-kube) holding N WhatsAppSession resources, each with a ready pod
# whose address is one local server standing in for the fleet of session pods (it holds
# the event stream the router relays from every pod open, and answers /metrics). N = 10,000
# by default. Prints one table: time from start to /readyz, RSS once indexed and once every
# pod's event stream is relayed (and the relay's share per pod), open fds, and the latency
# of GET /v1/sessions (the whole list) and GET /v1/sessions/{id} (one, by id). "indexed" is
# a run whose pods are not ready (nothing to relay); the rest, a run with every pod ready.
#   scripts/cluster-scale.sh               # builds release
#   SIZES="1000 10000" scripts/cluster-scale.sh ; REQUESTS (200) per latency figure
set -euo pipefail
cd "$(dirname "$0")/.."
# The same target dir as scale.sh, whose router build this reuses (cluster mode does not
# talk to WhatsApp, so the test-only feature there changes nothing measured here).
cargo build --release -q --target-dir target/wa-sim-release -p wagate-e2e --bin fake-kube
cargo build --release -q --target-dir target/wa-sim-release -p wagate-router \
  --features wagate-session/danger-skip-cert-chain-verify
fake_bin=$PWD/target/wa-sim-release/release/fake-kube
router_bin=$PWD/target/wa-sim-release/release/wagate-router
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
command -v bc >/dev/null || { echo "needs bc" >&2; exit 1; }
# One socket per relayed pod on each side of loopback (each process needs N and some).
ulimit -n "$(ulimit -Hn)"
key=bench-key-0123456789
api=127.0.0.1:18691
echo internal-token-0123456789 >"$work/token"
echo link-secret-0123456789abcdef0123 >"$work/link"

latency() { # path: "p50 p99" in ms over REQUESTS sequential GETs
  for _ in $(seq "${REQUESTS:-200}"); do
    curl -sf -o /dev/null -w '%{time_total}\n' -H "authorization: Bearer $key" "$api$1" ||
      { echo "GET $1 failed" >&2; exit 1; }
  done | sort -n | awk '{t[NR] = $1 * 1000} END {printf "%.1f %.1f", t[int(NR * 0.5)], t[int(NR * 0.99)]}'
}
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

printf '%7s %9s %12s %13s %9s %8s %17s %17s\n' sessions 'ready s' 'indexed MiB' 'relaying MiB' \
  'KiB/pod' fds 'list p50/p99 ms' 'one p50/p99 ms'
start() { # n ready|unready: the fake API, then the router until /readyz (sets the pids)
  "$fake_bin" "$1" wagate "$work" "$2" >"$work/fake.out" 2>&1 &
  fake_pid=$!
  # It prints its kubeconfig's path once every object is in.
  local kubeconfig=
  until [ -n "$kubeconfig" ] && [ -f "$kubeconfig" ]; do
    kill -0 "$fake_pid" 2>/dev/null || { cat "$work/fake.out" >&2; exit 1; }
    sleep 0.2
    kubeconfig=$(head -1 "$work/fake.out")
  done
  t0=$(date +%s.%N)
  KUBECONFIG=$kubeconfig "$router_bin" cluster --namespace wagate --listen "$api" \
    --data-dir "$work/router" --internal-token-file "$work/token" \
    --link-secret-file "$work/link" --api-key "$key" >"$work/router.log" 2>&1 &
  router_pid=$!
  until curl -sf "$api/readyz" >/dev/null 2>&1; do
    kill -0 "$router_pid" 2>/dev/null || { tail "$work/router.log" >&2; exit 1; }
    sleep 0.05
  done
  ready_s=$(echo "$(date +%s.%N) - $t0" | bc)
}
stop() {
  kill "$router_pid" "$fake_pid"
  wait "$router_pid" "$fake_pid" 2>/dev/null || true
}

for n in ${SIZES:-10000}; do
  if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((n + 1000)) ]; then
    echo "open-file limit $(ulimit -n) is too low for $n relayed pods" >&2
    exit 1
  fi
  # The index alone: pods that are not ready are indexed but not relayed.
  start "$n" unready
  sleep 5
  indexed=$(rss_mib "$router_pid")
  stop
  # Every pod ready: the fake prints how many event streams are open as it changes.
  start "$n" ready
  deadline=$((SECONDS + 120))
  until [ "$(tail -1 "$work/fake.out")" = "event streams open: $n" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "only $(tail -1 "$work/fake.out") of $n after 2 min" >&2
      exit 1
    fi
    sleep 0.5
  done
  sleep 5
  relaying=$(rss_mib "$router_pid")
  per_pod=$(echo "($relaying - $indexed) * 1024 / $n" | bc)
  fds=$(ls "/proc/$router_pid/fd" | wc -l)
  list=$(latency /v1/sessions)
  one=$(latency "/v1/sessions/desk-$(printf '%05d' $((n / 2)))")
  printf '%7d %9.2f %12s %13s %9s %8d %17s %17s\n' "$n" "$ready_s" "$indexed" "$relaying" \
    "$per_pod" "$fds" "$(echo "$list" | tr ' ' /)" "$(echo "$one" | tr ' ' /)"
  stop
done
