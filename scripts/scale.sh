#!/usr/bin/env bash
# One router (local backend) with N real-engine sessions linked to the protocol simulator
# (tests/wa-sim), N = 100, 500, 1,000 by default. For each N: RSS (and per session over the
# empty router), idle CPU, open fds, disk per session, time to link the new sessions,
# time from a restart to all `connected` (with the peak of logins the simulator saw at
# once), and sync send throughput across sessions at interval 0. Prints one table.
#   scripts/scale.sh                 # builds release (test build: skips WhatsApp's cert chain)
#   SIZES="50 100" scripts/scale.sh  # other sizes; IDLE_SECS (20) settles before measuring
set -euo pipefail
cd "$(dirname "$0")/.."
# The real engine can only reach the simulator when built with the test-only feature, so
# this build goes to its own target dir (as scripts/idle-rss.sh does).
cargo build --release -q --target-dir target/wa-sim-release -p wagate-wa-sim
cargo build --release -q --target-dir target/wa-sim-release -p wagate-router \
  --features wagate-session/danger-skip-cert-chain-verify
sim_bin=$PWD/target/wa-sim-release/release/wagate-wa-sim
router_bin=$PWD/target/wa-sim-release/release/wagate-router
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
key=bench-key-0123456789
sim=127.0.0.1:18391
api=127.0.0.1:18392
contact=971509999999
"$sim_bin" --listen "$sim" --contact "$contact=Bench" >/dev/null 2>&1 &
for _ in $(seq 50); do curl -sf "$sim/healthz" >/dev/null && break; sleep 0.1; done

router_pid=
start_router() {
  "$router_bin" --data-dir "$work/data" --listen "$api" --api-key "$key" --engine whatsapp \
    --whatsapp-ws-url "ws://$sim/ws/chat" --whatsapp-version 2.3000.1023456789 \
    --send-interval-ms 0 >"$work/router.log" 2>&1 &
  router_pid=$!
  for _ in $(seq 100); do curl -sf "$api/healthz" >/dev/null && break; sleep 0.1; done
}
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$router_pid/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$router_pid/stat"; }
connected() {
  curl -sf -H "authorization: Bearer $key" "$api/v1/sessions?status=connected" |
    grep -o '"sessionId"' | wc -l
}
wait_connected() { # n: waits until n are connected, or says how many were after 5 min
  local deadline=$((SECONDS + ${CONNECT_WAIT_SECS:-300}))
  until [ "$(connected)" -ge "$1" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "only $(connected) of $1 sessions connected; see $work/router.log" >&2
      return 1
    fi
    sleep 0.2
  done
}

link_one() { # n: create scale-n, scan its QR as its own number
  local id phone qr=""
  id=$(printf 'scale-%05d' "$1")
  phone=$(printf '97150%07d' "$1")
  curl -sf -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
    -d "{\"sessionId\":\"$id\"}" "$API/v1/sessions" >/dev/null
  for _ in $(seq 600); do
    qr=$(curl -sf -H "authorization: Bearer $KEY" "$API/v1/sessions/$id/qr?format=json" |
      sed -nE 's/.*"qr":"([^"]+)".*/\1/p') && [ -n "$qr" ] && break
    sleep 0.1
  done
  curl -sf -H 'content-type: application/json' -d "{\"qr\":\"$qr\",\"phone\":\"$phone\"}" \
    "$SIM/phone/scan" >/dev/null
}
send_one() { # n: a sync text from scale-n; prints "sent" when it was
  curl -sf -o /dev/null -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
    -d "{\"to\":\"$CONTACT\",\"text\":\"scale $1\"}" \
    "$API/v1/sessions/$(printf 'scale-%05d' "$1")/messages" && echo sent || true
}
export -f link_one send_one
export KEY=$key API=$api SIM=$sim CONTACT=$contact

start_router
sleep 2
base=$(rss_kib)
printf 'empty router: %d KiB RSS\n\n' "$base"
printf '%6s %9s %11s %9s %6s %8s %9s %10s %9s %8s\n' sessions 'RSS MiB' 'KiB/session' 'idle CPU' fds \
  'disk KiB' 'link s' 'restart s' 'logins' 'sent/s'
# link s: linking the sessions added at this size; logins: most at once after the restart;
# sent/s: one sync text from every session, 32 at a time.
linked=0
for n in ${SIZES:-100 500 1000}; do
  t0=$(date +%s.%N)
  seq "$linked" $((n - 1)) | xargs -P 16 -I{} bash -c 'link_one {}'
  wait_connected "$n"
  link_s=$(echo "$(date +%s.%N) - $t0" | bc)
  linked=$n
  # Restart: SIGTERM, start again, until every session is connected.
  curl -sf -X POST "$sim/logins/reset-peak" >/dev/null
  kill -TERM "$router_pid"; wait "$router_pid" || true
  t0=$(date +%s.%N)
  start_router
  wait_connected "$n"
  restart_s=$(echo "$(date +%s.%N) - $t0" | bc)
  peak=$(curl -sf "$sim/logins" | sed -E 's/.*"peak":([0-9]+).*/\1/')
  # Idle: what the restored sessions cost once they settled.
  sleep "${IDLE_SECS:-20}"
  rss=$(rss_kib)
  fds=$(ls "/proc/$router_pid/fd" | wc -l)
  c0=$(cpu_ticks); sleep 10; c1=$(cpu_ticks)
  idle_cpu=$(echo "scale=1; ($c1 - $c0) * 100 / $(getconf CLK_TCK) / 10" | bc)
  disk=$(( $(du -sk "$work/data" | cut -f1) / n ))
  t0=$(date +%s.%N)
  sent=$(seq 0 $((n - 1)) | xargs -P 32 -I{} bash -c 'send_one {}' | grep -c sent || true)
  send_rate=$(echo "$sent / ($(date +%s.%N) - $t0)" | bc)
  printf '%6d %9.1f %11d %8s%% %6d %8d %9.1f %10.1f %9s %8s\n' "$n" "$(echo "$rss / 1024" | bc -l)" \
    $(((rss - base) / n)) "$idle_cpu" "$fds" "$disk" "$link_s" "$restart_s" "$peak" "$send_rate"
done
