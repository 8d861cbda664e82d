#!/usr/bin/env bash
# Measures how far `opbench gate` can be trusted on this machine:
#   N gate runs on unchanged code      -> false alarms (should be 0)
#   N gate runs with a planted slowdown -> detections (should be >= 19 of 20)
# Usage: Benchmarks/scripts/gate-reliability.sh [baseline.json] [runs] [planted id:fraction]
set -euo pipefail
cd "$(dirname "$0")/../.."
baseline=${1:-results/baseline.json}
runs=${2:-20}
plant=${3:-matmul.simd:0.10}
swift build -c release >/dev/null
bin=.build/release/opbench
false_alarms=0; detections=0
for i in $(seq 1 "$runs"); do
  if $bin gate --baseline "$baseline" >/tmp/gate-clean-$i.md 2>/dev/null; then :; else
    false_alarms=$((false_alarms + 1)); grep -E "^- \*\*" /tmp/gate-clean-$i.md | sed "s/^/  clean run $i: /" || true
  fi
  if OPBENCH_PLANT_SLOWDOWN=$plant $bin gate --baseline "$baseline" >/tmp/gate-plant-$i.md 2>/dev/null; then
    echo "  planted run $i: not caught"
  else
    detections=$((detections + 1))
  fi
  echo "after $i: false alarms $false_alarms/$i, planted $plant caught $detections/$i"
done
echo "RESULT: false alarms $false_alarms of $runs clean runs; planted slowdown ($plant) caught in $detections of $runs runs"
