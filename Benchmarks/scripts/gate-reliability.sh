#!/usr/bin/env bash
# Measures how far `opbench gate` can be trusted on this machine:
#   N gate runs on unchanged code                  -> false alarms (goal: 0)
#   N gate runs per planted mode, the slowdown planted into every SIMD variant at once
#                                                   -> per case, how often it was caught among
#                                                      the runs whose summary said the case
#                                                      resolves the threshold (goal: >= 19 of 20)
# The five variants are planted together: each is an operator of its own, measured in its own
# groups and normalized by peers of its own operator, so one plant cannot move another's
# figure (a peer of a planted case that comes out slower is counted as a collateral flag).
# Modes: spin (busy-wait after each run) and work (the kernel's own kind of extra work: FMAs
# for a compute-bound case, a DRAM stream for a memory-bound one; see Plant.swift).
# Usage: Benchmarks/scripts/gate-reliability.sh [baseline.json] [runs] [fraction] [modes] [log name]
#   defaults: results/baseline.json 20 0.05 "spin work" gate-reliability.log
# Writes the log (gate-reliability.log unless named) to results/ (results/local/ on a tree with uncommitted
# changes; see common.sh). About 3 minutes per run (one clean and one per mode) here.
set -euo pipefail
source "$(dirname "$0")/common.sh"
baseline=${1:-results/baseline.json}
runs=${2:-20}
fraction=${3:-0.05}
modes=${4:-spin work}
logname=${5:-gate-reliability.log}
variants="matmul.simd softmax.simd layernorm.simd attention.simd int4.simd"
swift build -c release >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log="$work/log"
{
  echo "commit $($bin machine --format json 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['opbench_commit'])")"
  echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "command Benchmarks/scripts/gate-reliability.sh $baseline $runs $fraction \"$modes\" $logname"
} > "$log"
for i in $(seq 1 "$runs"); do
  $bin gate --baseline "$baseline" > "$work/clean-$i.md" 2>/dev/null || true
  for mode in $modes; do
    plant=$(for v in $variants; do printf '%s:%s:%s,' "$v" "$fraction" "$mode"; done)
    OPBENCH_PLANT_SLOWDOWN=${plant%,} $bin gate --baseline "$baseline" > "$work/$mode-$i.md" 2>/dev/null || true
  done
  python3 - "$work" "$i" "$modes" "$variants" "$fraction" <<'EOF' | tee -a "$log"
import re, sys
work, i, modes, variants, fraction = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split(), sys.argv[5]
def read(name):
    text = open(f"{work}/{name}-{i}.md").read()
    slower = re.findall(r"^- \*\*slower\*\* `([^`]+)`", text, re.M)
    noisy = re.findall(r"^- `([^`]+)`: catches slowdowns from", text, re.M)
    return slower, noisy, "**Speed not judged**" in text
slower, _, skipped = read("clean")
print(f"run {i} clean: " + ("speed not judged (machine state)" if skipped else "false alarm " + ", ".join(slower) if slower else "pass"))
for mode in modes:
    slower, noisy, skipped = read(mode)
    if skipped:
        print(f"run {i} {mode}: speed not judged (machine state)")
        continue
    planted = [k for k in slower if k.split(" ")[0] in variants]
    other = [k for k in slower if k.split(" ")[0] not in variants]
    print(f"run {i} {mode}: caught {', '.join(planted) or 'none'}; too noisy {', '.join(noisy) or 'none'}"
          + (f"; collateral {', '.join(other)}" if other else ""))
EOF
  cp "$log" "$out/${logname%.log}.partial.log"  # an interrupted run still shows what it measured
done
rm -f "$out/${logname%.log}.partial.log"
python3 - "$log" "$runs" "$modes" "$variants" "$fraction" "$baseline" <<'EOF' | tee -a "$log"
import json, re, sys
log, runs, modes, variants, fraction, baseline = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split(), sys.argv[5], sys.argv[6]
lines = open(log).read().splitlines()
cases = [f"{c['id']} {c['shape']} t={c['threads']}" for c in json.load(open(baseline))["cases"] if c["id"] in variants]
false_alarms = sum(1 for l in lines if re.match(r"run \d+ clean: false alarm", l))
clean_skipped = sum(1 for l in lines if re.match(r"run \d+ clean: speed not judged", l))
print(f"RESULT clean: false alarms in {false_alarms} of {runs - clean_skipped} judged runs ({clean_skipped} not judged)")
for mode in modes:
    skipped = [l for l in lines if re.match(rf"run \d+ {mode}: speed not judged", l)]
    mine = [l for l in lines if re.match(rf"run \d+ {mode}: ", l) and l not in skipped]
    print(f"RESULT {mode} {float(fraction) * 100:g}% planted into {', '.join(variants)}:")
    print(f"  runs not judged (machine in another state than the baseline's): {len(skipped)}")
    for c in cases:
        resolvable = [l for l in mine if f"too noisy" in l and c not in l.split("too noisy", 1)[1].split("; collateral")[0]]
        caught = [l for l in resolvable if c in l.split("; too noisy")[0]]
        caught_all = [l for l in mine if c in l.split("; too noisy")[0]]
        print(f"  {c}: resolves {fraction} in {len(resolvable)} of {len(mine)} runs, caught in {len(caught)} of those "
              f"({len(caught_all)} of {len(mine)} overall)")
    collateral = sum(1 for l in mine if "; collateral" in l)
    print(f"  runs with a collateral flag (an unplanted case slower): {collateral} of {len(mine)}")
EOF
cp "$log" "$out/$logname"
write_index
