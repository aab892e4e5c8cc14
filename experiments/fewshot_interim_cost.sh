#!/usr/bin/env bash
# Interim CPU cost of the running one-shot retrain (experiments/fewshot_v1.sh, stage 1): the
# process's user + sys CPU seconds (/proc/PID/stat) over the steps in its metrics.csv so far
# (includes start-up and the 400 warm-start steps on the largest network, so it overstates a
# uniform step). Used by experiments/estimators_report.py only while times.txt lacks stage 1.
set -euo pipefail
RUNS=${RUNS:-runs/fewshot}
OUT=experiments/results/fewshot_v1
pid=$(pgrep -f -n "output_dir=$RUNS/oneshot ")
steps=$(tail -1 "$RUNS/oneshot/metrics.csv" | cut -d, -f1)
ticks=$(getconf CLK_TCK)
cpu=$(awk -v t="$ticks" '{printf "%.1f", ($14 + $15) / t}' "/proc/$pid/stat")
printf '{"cpu_seconds": %s, "steps": %s, "measured_at": "%s", "how": "user+sys of the one-shot nas pretrain process (/proc/PID/stat) over its steps so far"}\n' \
  "$cpu" "$steps" "$(date -u +%FT%TZ)" > "$OUT/interim_cpu_per_step.json"
cat "$OUT/interim_cpu_per_step.json"
