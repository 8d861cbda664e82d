#!/usr/bin/env python3
"""Writes the Q8_0 / Q4_K / Q6_K reference vectors used by QuantFormatTests, made by the
`gguf` Python package (pip install gguf), whose quantizers and dequantizers match ggml's
reference code bit for bit.

Files (all little-endian, row-major, no header):
  quant_input.f32         float32 [ROWS, COLS] weights with hard blocks (see below)
  quant_q8_0.bin          gguf.quants.quantize(input, Q8_0) bytes
  quant_q8_0_deq.f32      gguf.quants.dequantize(those bytes, Q8_0)
  quant_random_q8_0.bin   random valid Q8_0 blocks (scales: normal, subnormal, negative,
                          zero, the largest finite fp16), and _deq.f32: gguf's dequantization
  quant_random_q4_k.bin / _deq.f32, quant_random_q6_k.bin / _deq.f32: the same for Q4_K, Q6_K
  quant_shape.txt         "ROWS COLS BLOCKS": the input's shape, random blocks per format

The gguf package has no Q4_K / Q6_K quantizer; OpBench's (ggml's reference algorithm) is
checked against llama.cpp's by Benchmarks/scripts/check-kquants.py.
"""
import os
import numpy as np
from gguf import quants
from gguf.constants import GGMLQuantizationType as T

ROWS, COLS, BLOCKS = 4, 512, 24
rng = np.random.default_rng(20261202)
w = rng.standard_normal((ROWS, COLS)).astype(np.float32)
blocks = w.reshape(-1, 32)
blocks[0] = 0.0                                    # all zero: d = 0, id = 0
blocks[1] = rng.uniform(-1, 1, 32); blocks[1][3] = 3.0; blocks[1][20] = -3.0   # tie for max |x|
blocks[2] = np.array([k / 2 for k in range(-16, 16)], dtype=np.float32) * (127 / 8)  # exact half-steps
blocks[3] = np.linspace(-1e-3, 2e-3, 32).astype(np.float32)    # tiny values
blocks[4] = np.linspace(-8e6, 8e6, 32).astype(np.float32)      # d near fp16's largest
blocks[5] = np.full(32, -2.5, dtype=np.float32)                # constant
blocks[6] = (rng.standard_normal(32) * 1e-30).astype(np.float32)  # d far below fp16's range
w = blocks.reshape(ROWS, COLS)

here = os.path.dirname(os.path.abspath(__file__))
w.tofile(os.path.join(here, "quant_input.f32"))
q = quants.quantize(w, T.Q8_0)
q.tofile(os.path.join(here, "quant_q8_0.bin"))
quants.dequantize(q, T.Q8_0).astype(np.float32).tofile(os.path.join(here, "quant_q8_0_deq.f32"))

# fp16 scales of every kind: normal of both signs, subnormal, zero, the largest finite.
SCALES = np.array([1e-3, -2.5e-2, 0.75, -3.0, 6.1e-5, 3e-6, -5.96e-8, 0.0, 65504.0, -65504.0, 1.0, 1e-2],
                  dtype=np.float16)


def halves(n):
    return rng.choice(SCALES, n).astype(np.float16).view(np.uint8).reshape(n, 2)


def random_blocks(qt, n):
    size = {T.Q8_0: 34, T.Q4_K: 144, T.Q6_K: 210}[qt]
    b = rng.integers(0, 256, (n, size), dtype=np.uint8)
    if qt == T.Q8_0:
        b[:, 0:2] = halves(n)
    elif qt == T.Q4_K:
        b[:, 0:2] = halves(n)    # d
        b[:, 2:4] = halves(n)    # dmin
    else:
        b[:, 208:210] = halves(n)  # d (the int8 scales are random bytes, all of -128…127)
    return b


for name, qt in (("q8_0", T.Q8_0), ("q4_k", T.Q4_K), ("q6_k", T.Q6_K)):
    b = random_blocks(qt, BLOCKS)
    b.tofile(os.path.join(here, f"quant_random_{name}.bin"))
    quants.dequantize(b, qt).astype(np.float32).tofile(os.path.join(here, f"quant_random_{name}_deq.f32"))
with open(os.path.join(here, "quant_shape.txt"), "w") as f:
    f.write(f"{ROWS} {COLS} {BLOCKS}\n")
