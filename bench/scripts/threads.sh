#!/usr/bin/env bash
# herald's threads under saturation: share of a core on the CPU, waiting for a core (run
# queue), and voluntary / preempted switches per second, over WINDOW seconds in the middle of
# a 100,000-event run (/proc/PID/task/TID/schedstat and status). BENCHMARKS.md, "Issue 25".
#
#   bench/scripts/threads.sh [HERALD_BENCH] [WINDOW]
set -euo pipefail
bench=${1:-target/release/herald-bench}
window=${2:-4}
out=$(mktemp)
"$bench" --events 100000 --seconds 0 >"$out" 2>&1 &
run=$!
sleep 5
pid=$(pgrep -f "herald serve" | head -1)
snap() {
  for t in /proc/"$pid"/task/*; do
    printf '%s %s %s\n' "$(tr -d ' ' <"$t"/comm)" "$(cat "$t"/schedstat)" \
      "$(awk '/ctxt/ {printf "%s ", $2}' "$t"/status)"
  done
}
snap >"$out.1"; sleep "$window"; snap >"$out.2"
paste "$out.1" "$out.2" | awk -v w="$window" '{
  on = ($8 - $2) / (w * 1e7); rq = ($9 - $3) / (w * 1e7)
  if (on > 0.5) printf "%-22s on-cpu %5.1f%%  runqueue-wait %5.1f%%  voluntary %6d/s  preempted %6d/s\n",
    $1, on, rq, ($11 - $5) / w, ($12 - $6) / w }'
wait "$run"
grep -E "acknowledged|CPU" "$out"
rm -f "$out" "$out.1" "$out.2"
