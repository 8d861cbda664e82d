#!/usr/bin/env python3
"""Writes the Q4_0 / Q4_1 reference vectors used by Int4Tests, produced by the `gguf`
Python package (pip install gguf), which quantizes exactly like ggml's reference code.

Files (all little-endian, row-major, no header):
  int4_input.f32       float32 [ROWS, COLS] weights, including hard blocks (see below)
  int4_q4_0.bin        gguf.quants.quantize(input, Q4_0) bytes
  int4_q4_0_deq.f32    gguf.quants.dequantize(those bytes, Q4_0) as float32
  int4_q4_1.bin / int4_q4_1_deq.f32   the same for Q4_1
  int4_shape.txt       "ROWS COLS"
"""
import os
import numpy as np
from gguf import quants
from gguf.constants import GGMLQuantizationType as T

ROWS, COLS = 12, 96  # 36 blocks of 32
rng = np.random.default_rng(20261129)
w = rng.standard_normal((ROWS, COLS)).astype(np.float32)
blocks = w.reshape(-1, 32)
blocks[0] = 0.0                                   # all-zero block: d = 0, id = 0
blocks[1] = rng.uniform(-1, 1, 32); blocks[1][3] = 3.0; blocks[1][20] = -3.0   # tie for max |x|, + first
blocks[2] = rng.uniform(-1, 1, 32); blocks[2][5] = -3.0; blocks[2][9] = 3.0    # tie, - first
# exact half-steps: with max = -8, d = 1 and x + 8.5 lands on .5 boundaries / integers
blocks[3] = np.array([-8.0] + [k / 2 for k in range(-15, 16)], dtype=np.float32)[:32]
blocks[4] = np.full(32, 0.1, dtype=np.float32)     # constant block: Q4_1 d = 0
blocks[5] = np.linspace(-1e-3, 2e-3, 32).astype(np.float32)   # tiny values
blocks[6] = np.linspace(-6e4, 6e4, 32).astype(np.float32)     # near fp16 range
blocks[7] = (np.arange(32) / 15.0 * 1.5 - 0.25).astype(np.float32)  # Q4_1 half-steps
blocks[8] = np.full(32, -2.5, dtype=np.float32); blocks[8][31] = 2.5  # tie at the end
w = blocks.reshape(ROWS, COLS)

here = os.path.dirname(os.path.abspath(__file__))
w.tofile(os.path.join(here, "int4_input.f32"))
for name, qt in (("q4_0", T.Q4_0), ("q4_1", T.Q4_1)):
    q = quants.quantize(w, qt)
    q.tofile(os.path.join(here, f"int4_{name}.bin"))
    quants.dequantize(q, qt).astype(np.float32).tofile(os.path.join(here, f"int4_{name}_deq.f32"))
with open(os.path.join(here, "int4_shape.txt"), "w") as f:
    f.write(f"{ROWS} {COLS}\n")
