#!/usr/bin/env bash
# The main job: set-up, release build, machine ceilings, the quick suite (all 15 variants),
# and the report: results/quick.json, results/quick.md, results/quick.html.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash .ci/setup
swift build -c release
bin=.build/release/opbench
$bin machine
$bin bench --suite quick --output results/quick.json
$bin report results/quick.json --md results/quick.md --html results/quick.html
echo "report: results/quick.md, results/quick.html"
