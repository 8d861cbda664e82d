#!/usr/bin/env bash
# Records the gate baseline after an intended performance change: the quick suite in 5
# rounds, each a fresh process (docs/gate.md). Writes NAME (default baseline.json) to results/
# (results/local/ on a tree with uncommitted changes; see common.sh). About 5 minutes here.
# One baseline per kind of machine: `opbench gate` takes several --baseline files and uses the
# one recorded on a machine like the one it runs on (same CPU, SIMD features, caches).
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash .ci/setup
swift build -c release
name=${1:-baseline.json}
$bin --tuning none bench --suite quick --rounds 5 --output "$out/$name"
write_index
echo "wrote $out/$name"
