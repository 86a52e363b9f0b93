#!/usr/bin/env bash
# The console's weight and speed: the size of its assets (raw and gzip, what a browser
# downloads), and time to first render of the sessions page with 1,000 linked simulator
# sessions in a release router, measured in headless Chromium (median of 5).
#   scripts/console-render.sh        # builds release + the test binary, prints the figures
set -euo pipefail
cd "$(dirname "$0")/.."
for asset in router/assets/ui/*; do
  printf '%-28s %7d B  gzip %6d B\n' "$asset" "$(wc -c <"$asset")" "$(gzip -9 -c "$asset" | wc -c)"
done
printf '%-28s %7d B  gzip %6d B\n' "all assets" "$(cat router/assets/ui/* | wc -c)" "$(cat router/assets/ui/* | gzip -9 | wc -c)"
cargo build --release -q -p wagate-router
bin=$PWD/target/release/wagate-router
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
key=bench-key-0123456789
port=18282
"$bin" --data-dir "$work/data" --listen "127.0.0.1:$port" --engine simulator --api-key "$key" >/dev/null 2>&1 &
for _ in $(seq 50); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
auth=(-H "authorization: Bearer $key" -H 'content-type: application/json')
for n in $(seq 0 $((${SESSIONS:-1000} - 1))); do
  id=$(printf 'desk-%04d' "$n")
  curl -sf "${auth[@]}" -d "{\"sessionId\":\"$id\",\"labels\":{\"team\":\"t$((n % 7))\"}}" "127.0.0.1:$port/v1/sessions" >/dev/null
  curl -sf "${auth[@]}" -X POST "127.0.0.1:$port/v1/sessions/$id/sandbox/scan" >/dev/null
done
WAGATE_CONSOLE_URL="http://127.0.0.1:$port" WAGATE_CONSOLE_KEY="$key" \
  cargo test -q --workspace --test it console::measure_first_render -- --ignored --nocapture 2>&1 | grep -E '^rows'
