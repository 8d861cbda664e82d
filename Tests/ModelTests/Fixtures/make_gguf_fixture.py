#!/usr/bin/env python3
"""Writes tiny.gguf and tiny-gpt2.gguf with the `gguf` package's own writer (pip install gguf), for GGUFTests:
metadata of every value type (nested arrays and strings included), a non-default alignment,
and tensors in F32, F16, Q8_0, Q4_0, Q4_K and Q6_K
whose values the test recomputes, plus tiny_values.f32: every tensor's values (gguf's own
dequantization) concatenated in file order.
"""
import os
import numpy as np
import gguf
from gguf import quants
from gguf.constants import GGMLQuantizationType as T

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261202)
w = gguf.GGUFWriter(os.path.join(here, "tiny.gguf"), arch="llama")
w.add_custom_alignment(64)
w.add_string("opbench.string", "gr\u00fc\u00dfe, GGUF")
w.add_uint8("opbench.u8", 200)
w.add_int8("opbench.i8", -100)
w.add_uint16("opbench.u16", 60000)
w.add_int16("opbench.i16", -30000)
w.add_int32("opbench.i32", -2000000000)
w.add_float32("opbench.f32", 1.5)
w.add_bool("opbench.bool", True)
w.add_uint64("opbench.u64", 2**63 + 5)
w.add_int64("opbench.i64", -2**62)
w.add_float64("opbench.f64", -0.125)
w.add_array("opbench.ints", [1, 2, 3])
w.add_array("opbench.strings", ["a", "", "long string"])
w.add_array("opbench.nested", [[1, 2], [3]])
values = []
shapes = {"f32": (3, 40), "f16": (2, 32), "q8_0": (4, 64), "q4_0": (2, 64), "q4_k": (3, 256), "q6_k": (2, 512)}
types = {"f32": T.F32, "f16": T.F16, "q8_0": T.Q8_0, "q4_0": T.Q4_0, "q4_k": T.Q4_K, "q6_k": T.Q6_K}
for name, shape in shapes.items():
    x = rng.standard_normal(shape).astype(np.float32)
    qt = types[name]
    if qt == T.F32:
        w.add_tensor(f"t.{name}", x)
        values.append(x)
    elif qt == T.F16:
        w.add_tensor(f"t.{name}", x.astype(np.float16))
        values.append(x.astype(np.float16).astype(np.float32))
    elif qt in (T.Q4_K, T.Q6_K):  # gguf has no K-quant quantizer: random valid blocks
        size = {T.Q4_K: 144, T.Q6_K: 210}[qt]
        b = rng.integers(0, 256, (shape[0] * shape[1] // 256, size), dtype=np.uint8)
        halves = rng.uniform(-0.1, 0.1, (b.shape[0], 2)).astype(np.float16).view(np.uint8)  # (blocks, 4)
        if qt == T.Q4_K:
            b[:, 0:4] = halves  # d, dmin
        else:
            b[:, 208:210] = halves[:, 0:2]  # d
        raw = b.reshape(shape[0], -1)
        w.add_tensor(f"t.{name}", raw, raw_dtype=qt)
        values.append(quants.dequantize(raw, qt).astype(np.float32))
    else:
        q = quants.quantize(x, qt)
        w.add_tensor(f"t.{name}", q, raw_dtype=qt)
        values.append(quants.dequantize(q, qt).astype(np.float32))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
np.concatenate([v.ravel() for v in values]).astype(np.float32).tofile(os.path.join(here, "tiny_values.f32"))

# tiny-gpt2.gguf: a 2-layer GPT-2 (C 64, 4 heads, ff 256, vocab 512, 128 positions) in
# llama.cpp's names, token embedding in F16, linears in Q8_0, norms and biases in F32.
C, F, V, P, L = 64, 256, 512, 128, 2
m = gguf.GGUFWriter(os.path.join(here, "tiny-gpt2.gguf"), arch="gpt2")
m.add_block_count(L); m.add_embedding_length(C); m.add_feed_forward_length(F); m.add_context_length(P)
m.add_head_count(4); m.add_layer_norm_eps(1e-5)


def t(name, *shape, scale=0.1):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


m.add_tensor("token_embd.weight", t("e", V, C).astype(np.float16))
m.add_tensor("position_embd.weight", t("p", P, C, scale=0.02))
for i in range(L):
    p = f"blk.{i}."
    for norm in ("attn_norm", "ffn_norm"):
        m.add_tensor(p + norm + ".weight", (1 + t("g", C)).astype(np.float32)); m.add_tensor(p + norm + ".bias", t("b", C))
    for name, rows, cols in (("attn_qkv", 3 * C, C), ("attn_output", C, C), ("ffn_up", F, C), ("ffn_down", C, F)):
        m.add_tensor(p + name + ".weight", quants.quantize(t("w", rows, cols), T.Q8_0), raw_dtype=T.Q8_0)
        m.add_tensor(p + name + ".bias", t("b", rows, scale=0.02))
m.add_tensor("output_norm.weight", (1 + t("g", C)).astype(np.float32)); m.add_tensor("output_norm.bias", t("b", C))
m.write_header_to_file(); m.write_kv_data_to_file(); m.write_tensors_to_file(); m.close()
