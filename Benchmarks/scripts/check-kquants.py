#!/usr/bin/env python3
"""Quantizes the same weights with llama.cpp's quantizer (ggml_quantize_chunk in the
libggml-base that llama-cpp-python builds and installs) and with `opbench quant`, and says
how many blocks differ, for Q8_0, Q4_K and Q6_K (and Q4_0/Q4_1 for reference).

  python3 Benchmarks/scripts/check-kquants.py [OPBENCH] [ROWS] [COLS]
  python3 Benchmarks/scripts/check-kquants.py --fixtures Tests/KernelsTests/Fixtures

The second form writes quant_llamacpp_q4_k.bin and quant_llamacpp_q6_k.bin: llama.cpp's
quantization of quant_input.f32 there, which QuantFormatTests compares OpBench's against.

OPBENCH defaults to .build/release/opbench. Needs numpy and llama-cpp-python
(pip install llama-cpp-python==0.3.36; it builds llama.cpp from source). Prints one line per
format: blocks compared, blocks byte-identical, and the RMS quantization error of each side.
"""
import ctypes, os, subprocess, sys, tempfile
import numpy as np

fixtures = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--fixtures" else None
opbench = sys.argv[1] if len(sys.argv) > 1 and not fixtures else ".build/release/opbench"
rows = int(sys.argv[2]) if len(sys.argv) > 2 and not fixtures else 256
cols = int(sys.argv[3]) if len(sys.argv) > 3 and not fixtures else 4096

import llama_cpp  # noqa: E402  (only to find its libraries)
lib_dir = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
ggml = ctypes.CDLL(os.path.join(lib_dir, "libggml-base.so"))
ggml.ggml_quantize_chunk.restype = ctypes.c_size_t
ggml.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                     ctypes.c_int64, ctypes.c_void_p]
ggml.ggml_quantize_init.argtypes = [ctypes.c_int]
TYPES = {"q4_0": (2, 32, 18), "q4_1": (3, 32, 20), "q8_0": (8, 32, 34), "q4_k": (12, 256, 144), "q6_k": (14, 256, 210)}



def quantize(name, x):
    t, bs, bb = TYPES[name]
    ggml.ggml_quantize_init(t)
    out = np.zeros(x.size // bs * bb, dtype=np.uint8)
    n = ggml.ggml_quantize_chunk(t, x.ctypes.data, out.ctypes.data, 0, x.shape[0], x.shape[1], None)
    assert n == out.size, (name, n, out.size)
    return out


if fixtures:
    r, c, _ = (int(v) for v in open(os.path.join(fixtures, "quant_shape.txt")).read().split())
    x = np.fromfile(os.path.join(fixtures, "quant_input.f32"), dtype=np.float32).reshape(r, c)
    for name in ("q4_k", "q6_k"):
        quantize(name, x).tofile(os.path.join(fixtures, f"quant_llamacpp_{name}.bin"))
    sys.exit(0)

rng = np.random.default_rng(7)
w = rng.standard_normal((rows, cols)).astype(np.float32)
# Heavier tails and outliers in some rows, as trained weights have.
w[1::4] = (w[1::4] ** 3).astype(np.float32)
w[2::4, ::97] *= 30
w[3::8] *= 1e-3

dequant_rms = {}
with tempfile.TemporaryDirectory() as tmp:
    np.save(os.path.join(tmp, "w.npy"), w)
    for name, (t, bs, bb) in TYPES.items():
        ref = quantize(name, w)
        out = os.path.join(tmp, f"w.{name}")
        subprocess.run([opbench, "quant", "--format", name, "--input", os.path.join(tmp, "w.npy"), "--output", out],
                       check=True, stdout=subprocess.DEVNULL)
        ours = np.fromfile(out, dtype=np.uint8)
        same = (ours.reshape(-1, bb) == ref.reshape(-1, bb)).all(axis=1)
        errs = []
        for label, blob in (("llama.cpp", ref), ("opbench", ours)):
            blob.tofile(os.path.join(tmp, "b.bin"))
            subprocess.run([opbench, "dequant", "--format", name, "--input", os.path.join(tmp, "b.bin"), "--shape",
                            f"{rows}x{cols}", "--output", os.path.join(tmp, "d.npy")], check=True, stdout=subprocess.DEVNULL)
            d = np.load(os.path.join(tmp, "d.npy"))
            errs.append(float(np.sqrt(np.mean((d.astype(np.float64) - w) ** 2))))
        print(f"{name}: {same.size} blocks, {int(same.sum())} byte-identical ({100 * same.mean():.2f}%), "
              f"RMS error llama.cpp {errs[0]:.6g}, opbench {errs[1]:.6g}")
