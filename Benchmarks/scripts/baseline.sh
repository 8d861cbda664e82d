#!/usr/bin/env bash
# Records the gate baseline after an intended performance change: the quick suite in 5
# rounds, each a fresh process (docs/gate.md). Writes baseline.json to results/ (results/local/
# on a tree with uncommitted changes; see common.sh). About 5 minutes here.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash .ci/setup
swift build -c release
$bin bench --suite quick --rounds 5 --output "$out/baseline.json"
write_index
echo "wrote $out/baseline.json"
