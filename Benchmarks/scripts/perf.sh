#!/usr/bin/env bash
# The performance record: every shape named by the SIMD targets, measured side by side in
# one run per group, the model-pass targets, and the ablation chains; merged into
# perf.md, perf.html, ablation.md and the raw perf/*.json in results/ (results/local/ on a
# tree with uncommitted changes; see common.sh). 3–6 minutes here.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash .ci/setup
swift build -c release
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
common=(--min-time 0.6 --repetitions 7)
# matmul: squares, 1 thread; model shapes with [out×in] weights (prefill M=16/128/512; the
# decode GEMVs, M=1, with cold caches: in a model each layer's weights come from DRAM)
$bin bench --op matmul --variant simd,blas "${common[@]}" --output "$tmp/1.json" \
  --shape 64x64x64 --shape 128x128x128 --shape 256x256x256 --shape 512x512x512 --shape 1024x1024x1024 \
  --shape 2048x2048x2048 --shape 4096x4096x4096 \
  --shape 16x768x3072,nk --shape 128x768x2304,nk \
  --shape 128x3072x768,nk --shape 512x768x3072,nk --shape 512x3072x768,nk >/dev/null
$bin bench --op matmul --variant simd,blas --cache cold "${common[@]}" --output "$tmp/9.json" \
  --shape 1x768x3072,nk --shape 1x3072x768,nk --shape 1x768x2304,nk >/dev/null
$bin bench --op matmul --variant simd,blas --threads 2 "${common[@]}" --output "$tmp/2.json" \
  --shape 1024x1024x1024 --shape 2048x2048x2048 >/dev/null
# softmax and layernorm on 4096x4096 (arrays far larger than L3), 1 and 2 threads
$bin bench --op softmax,layernorm --threads 1,2 "${common[@]}" --output "$tmp/3.json" --shape 4096x4096 >/dev/null
# int4 decode GEMV against fp32 BLAS on the same shape, cold caches: 14336x4096 (33 MB of
# Q4_0, about the 32 MiB L3, which warm repetitions would partly find cached) and 28672x4096
# (66 MB); prefill
$bin bench --op int4,matmul --variant int4.simd,int4.blas,matmul.blas --threads 1,2 --cache cold "${common[@]}" \
  --output "$tmp/4.json" \
  --shape 1x4096x14336 --shape 1x4096x28672 >/dev/null
$bin bench --op int4,matmul --variant int4.simd,matmul.blas "${common[@]}" --output "$tmp/5.json" --shape 512x4096x4096 >/dev/null
# attention: dense causal vs window+global at T=4096, and window+global growth with T
$bin bench --op attention --variant simd,blas "${common[@]}" --output "$tmp/6.json" \
  --shape T=4096,H=12,D=64,causal --shape T=4096,H=12,D=64,causal,window=256,global=4 \
  --shape T=1024,H=12,D=64,causal,window=256,global=4 --shape T=16384,H=12,D=64,causal,window=256,global=4 >/dev/null
# model targets (gpt2-small, 1 thread): decode with q4_0 (fp32 and fp16 KV cache) vs the f32 blas plan;
# prefill of 512 tokens
$bin model --preset gpt2-small --prompt 512 --generate 64 --repetitions 3 \
  --plan matmul=blas,softmax=blas,layernorm=blas,attention=blas --plan matmul=simd --plan weights=q4_0 --plan weights=q4_0,kv=f16 \
  --output "$tmp/7.json" >/dev/null
# decode where the weights are the traffic the bound counts: an 8-token prompt (at 512 tokens
# each step also reads ~40 MB of fp32 KV cache)
$bin model --preset gpt2-small --prompt 8 --generate 64 --repetitions 3 --plan weights=q4_0 \
  --output "$tmp/8.json" >/dev/null
$bin report "$tmp"/{1,9,2,3,4,5,6,7,8}.json --md "$out/perf.md" --html "$out/perf.html"
# ablation chains: each optimization step measured side by side
$bin ablation --format md --output "$tmp/ablation.json" > "$tmp/ablation.md"
mkdir -p "$out/perf"
cp "$tmp"/*.json "$out/perf/"
cp "$tmp/ablation.md" "$out/ablation.md"
write_index
echo "wrote $out/perf.md, $out/perf.html, $out/ablation.md, $out/perf/*.json"
