#!/usr/bin/env bash
# The Llama-family run of docs/models.md: tinyllama-1.1b (synthetic weights at the real shapes)
# in f32, Q8_0, Q4_0 and Q4_K_M on 2 threads, speed and accuracy (max abs error, cosine, top-1,
# mean KL against the fp64 pass) side by side; report in model-tinyllama.md. Writes to results/
# (results/local/ on a tree with uncommitted changes). About 6 minutes here; needs about 10 GB.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash .ci/setup
swift build -c release
$bin model --preset tinyllama-1.1b --prompt 64 --generate 16 --repetitions 3 --threads 2 \
  --plan weights=f32 --plan weights=q8_0 --plan weights=q4_0 --plan weights=q4_k_m \
  --output "$out/model-tinyllama.json" >/dev/null
$bin report "$out/model-tinyllama.json" --md "$out/model-tinyllama.md"
write_index
echo "wrote $out/model-tinyllama.json, $out/model-tinyllama.md"
