#!/usr/bin/env bash
# Measures how far `opbench gate` can be trusted on this machine:
#   N gate runs on unchanged code      -> false alarms (should be 0)
#   N gate runs with a planted slowdown -> detections (should be >= 19 of 20)
# Usage: Benchmarks/scripts/gate-reliability.sh [baseline.json] [runs] [planted id:fraction]
# Writes gate-reliability.log to results/ (results/local/ on a tree with uncommitted
# changes; see common.sh). About 2 minutes per run here.
set -euo pipefail
source "$(dirname "$0")/common.sh"
baseline=${1:-results/baseline.json}
runs=${2:-20}
plant=${3:-matmul.simd:0.10}
swift build -c release >/dev/null
log=$(mktemp)
trap 'rm -f "$log"' EXIT
{
  echo "commit $($bin machine --format json | python3 -c "import json,sys; print(json.load(sys.stdin)['opbench_commit'])")"
  echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "command Benchmarks/scripts/gate-reliability.sh $baseline $runs $plant"
} > "$log"
false_alarms=0; detections=0
for i in $(seq 1 "$runs"); do
  if $bin gate --baseline "$baseline" >/tmp/gate-clean-$i.md 2>/dev/null; then :; else
    false_alarms=$((false_alarms + 1)); grep -E "^- \*\*" /tmp/gate-clean-$i.md | sed "s/^/  clean run $i: /" | tee -a "$log" || true
  fi
  if OPBENCH_PLANT_SLOWDOWN=$plant $bin gate --baseline "$baseline" >/tmp/gate-plant-$i.md 2>/dev/null; then
    echo "  planted run $i: not caught" | tee -a "$log"
  else
    detections=$((detections + 1))
  fi
  echo "after $i: false alarms $false_alarms/$i, planted $plant caught $detections/$i" | tee -a "$log"
done
echo "RESULT: false alarms $false_alarms of $runs clean runs; planted slowdown ($plant) caught in $detections of $runs runs" | tee -a "$log"
cp "$log" "$out/gate-reliability.log"
write_index
