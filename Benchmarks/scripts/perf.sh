#!/usr/bin/env bash
# The performance record: every shape named by the SIMD targets, measured side by side in
# one run per group, then merged into results/perf.{json,md,html}. About 5 minutes here.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash .ci/setup
swift build -c release
bin=.build/release/opbench
tmp=$(mktemp -d)
common=(--min-time 0.6 --repetitions 7)
# matmul: squares, 1 thread; large squares on 2 threads; decode and prefill model shapes
$bin bench --op matmul --variant simd,blas "${common[@]}" --output "$tmp/1.json" \
  --shape 64x64x64 --shape 128x128x128 --shape 256x256x256 --shape 512x512x512 --shape 1024x1024x1024 \
  --shape 2048x2048x2048 --shape 4096x4096x4096 --shape 1x768x3072 --shape 1x3072x768 \
  --shape 512x768x3072 --shape 512x3072x768 >/dev/null
$bin bench --op matmul --variant simd,blas --threads 2 "${common[@]}" --output "$tmp/2.json" \
  --shape 1024x1024x1024 --shape 2048x2048x2048 >/dev/null
# softmax and layernorm on 4096x4096 (arrays far larger than L3), 1 and 2 threads
$bin bench --op softmax,layernorm --threads 1,2 "${common[@]}" --output "$tmp/3.json" --shape 4096x4096 >/dev/null
# int4 decode GEMV (weights larger than L3) against fp32 BLAS on the same shape; prefill
$bin bench --op int4,matmul --variant int4.simd,int4.blas,matmul.blas --threads 1,2 "${common[@]}" --output "$tmp/4.json" \
  --shape 1x4096x14336 >/dev/null
$bin bench --op int4,matmul --variant int4.simd,matmul.blas "${common[@]}" --output "$tmp/5.json" --shape 512x4096x4096 >/dev/null
# attention: dense causal vs window+global at T=4096, and window+global growth with T
$bin bench --op attention --variant simd,blas "${common[@]}" --output "$tmp/6.json" \
  --shape T=4096,H=12,D=64,causal --shape T=4096,H=12,D=64,causal,window=256,global=4 \
  --shape T=1024,H=12,D=64,causal,window=256,global=4 --shape T=16384,H=12,D=64,causal,window=256,global=4 >/dev/null
$bin report "$tmp"/{1,2,3,4,5,6}.json --md results/perf.md --html results/perf.html
mkdir -p results/perf
cp "$tmp"/*.json results/perf/
echo "wrote results/perf.md, results/perf.html, results/perf/*.json"
