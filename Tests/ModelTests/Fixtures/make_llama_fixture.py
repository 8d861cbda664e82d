#!/usr/bin/env python3
"""Writes the Llama-family fixture: two small models with seeded weights, run by Hugging Face
`transformers` (an implementation OpBench did not write) in float64.

    pip install torch==2.13.0+cpu transformers gguf
    python3 Tests/ModelTests/Fixtures/make_llama_fixture.py

For each model (the shapes of OpBench's `llama-tiny` and `qwen2-tiny` presets):
- `<name>.safetensors`: the weights in Hugging Face's naming and layout (fp32; the model runs
  in float64 on exactly these values).
- `<name>.gguf`: the same weights as llama.cpp's converter lays them out: `llama` files have
  the Q and K rows of every head permuted for ggml's adjacent-pair rotation (pair i moves from
  rows (i, i + D/2) to rows (2i, 2i + 1)); `qwen2` files keep Hugging Face's (neox) layout.
- `llama_reference.json`: for a few token sequences (one longer than 512 positions), the
  float64 logits `LlamaForCausalLM` / `Qwen2ForCausalLM` give at chosen positions.

transformers keeps three steps in float32 even in a float64 model: RoPE's frequencies and
angles (an angle error of p·2⁻²⁴ rad, 3.6e-5 at p = 600), RMSNorm, and the eager attention's
softmax. The script gives those three steps float64 (RoPE and RMSNorm by replacing their
forward functions with the same formulas in float64, attention by taking the SDPA path, which
computes in the tensors' dtype), so the fixture is float64 throughout and a comparison
measures OpBench, not transformers' fp32 islands. RMSNorm's ε is the fp32 value GGUF stores.

llama-tiny: grouped-query attention (4 query heads over 2 K/V heads), adjacent pairs in GGUF,
its own LM head, no biases. qwen2-tiny: multi-query attention (1 K/V head), neox pairs,
Q/K/V biases, tied embeddings, theta 1e6.
"""
import json
import os

import numpy as np
import torch
from safetensors.torch import save_file
import gguf
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM
from transformers.models.llama import modeling_llama
from transformers.models.qwen2 import modeling_qwen2

here = os.path.dirname(os.path.abspath(__file__))

MODELS = {
    "llama-tiny": dict(
        cls=(LlamaConfig, LlamaForCausalLM), arch="llama", kv=2, theta=10000.0, eps=1e-5, tied=False, bias=False, seed=101
    ),
    "qwen2-tiny": dict(
        cls=(Qwen2Config, Qwen2ForCausalLM), arch="qwen2", kv=1, theta=1e6, eps=1e-6, tied=True, bias=True, seed=202
    ),
}
HIDDEN, HEADS, LAYERS, FF, VOCAB, CTX = 64, 4, 2, 160, 512, 1024


def build(name, spec):
    config_cls, model_cls = spec["cls"]
    kwargs = dict(
        vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FF, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        num_key_value_heads=spec["kv"], max_position_embeddings=CTX, rms_norm_eps=float(np.float32(spec["eps"])),
        rope_theta=spec["theta"], tie_word_embeddings=spec["tied"], hidden_act="silu",
    )
    if spec["arch"] == "llama":
        kwargs["attention_bias"] = False
        kwargs["mlp_bias"] = False
    config = config_cls(**kwargs)
    config._attn_implementation = "sdpa"
    torch.manual_seed(spec["seed"])
    model = model_cls(config).to(torch.float64).eval()
    gen = torch.Generator().manual_seed(spec["seed"])
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if "norm" in pname:
                v = 1 + 0.2 * (torch.rand(p.shape, generator=gen, dtype=torch.float64) - 0.5)
            elif pname.endswith(".bias"):
                v = 0.1 * (torch.rand(p.shape, generator=gen, dtype=torch.float64) - 0.5)
            else:
                # Larger than GPT-2's 0.02 so that attention is far from uniform and RoPE matters.
                v = 0.2 * (torch.rand(p.shape, generator=gen, dtype=torch.float64) - 0.5)
            # Every weight an fp32 value, so OpBench's fp32 copy holds exactly what ran here.
            p.copy_(v.to(torch.float32).to(torch.float64))
    assert model.config.rope_parameters["rope_theta"] == spec["theta"]
    rope_in_float64(model, spec["theta"])
    return model


def rms_norm_float64(self, hidden_states):
    """RMSNorm's formula (as transformers writes it) without the cast to float32."""
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


def rope_in_float64(model, base):
    """Replaces the rotary embedding's cos/sin (float32 in transformers) with float64 ones."""
    dim = HIDDEN // HEADS
    inv = 1.0 / (torch.tensor(base, dtype=torch.float64) ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))

    def forward(x, position_ids):
        freqs = position_ids[..., None].to(torch.float64) * inv
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)

    model.model.rotary_emb.forward = forward


def permute_for_adjacent(w, heads):
    """Rows of each head reordered so that ggml's adjacent pairs rotate what Hugging Face's
    rotate_half pairs (i, i + D/2) rotate (the layout llama.cpp's converter writes)."""
    d = w.shape[0] // heads
    idx = []
    for h in range(heads):
        for i in range(d // 2):
            idx += [h * d + i, h * d + d // 2 + i]
    return w[idx]


def write_gguf(name, spec, model):
    sd = {k: v.to(torch.float32).numpy() for k, v in model.state_dict().items()}
    arch = spec["arch"]
    w = gguf.GGUFWriter(os.path.join(here, f"{name}.gguf"), arch=arch)
    w.add_name(name)
    w.add_context_length(CTX)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FF)
    w.add_head_count(HEADS)
    w.add_head_count_kv(spec["kv"])
    w.add_rope_freq_base(spec["theta"])
    w.add_rope_dimension_count(HIDDEN // HEADS)
    w.add_layer_norm_rms_eps(spec["eps"])
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    if not spec["tied"]:
        w.add_tensor("output.weight", sd["lm_head.weight"])
    for i in range(LAYERS):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        for hf, gg, heads in [("q_proj", "attn_q", HEADS), ("k_proj", "attn_k", spec["kv"]), ("v_proj", "attn_v", None)]:
            weight = sd[p + f"self_attn.{hf}.weight"]
            bias = sd.get(p + f"self_attn.{hf}.bias")
            if arch == "llama" and heads is not None:
                weight = permute_for_adjacent(weight, heads)
                bias = None if bias is None else permute_for_adjacent(bias, heads)
            w.add_tensor(b + gg + ".weight", np.ascontiguousarray(weight))
            if bias is not None:
                w.add_tensor(b + gg + ".bias", np.ascontiguousarray(bias))
        w.add_tensor(b + "attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        w.add_tensor(b + "attn_norm.weight", sd[p + "input_layernorm.weight"])
        w.add_tensor(b + "ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        w.add_tensor(b + "ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
        w.add_tensor(b + "ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        w.add_tensor(b + "ffn_down.weight", sd[p + "mlp.down_proj.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    modeling_llama.LlamaRMSNorm.forward = rms_norm_float64
    modeling_qwen2.Qwen2RMSNorm.forward = rms_norm_float64
    rng = np.random.default_rng(20261202)
    sequences = {
        "short": rng.integers(0, VOCAB, 12).tolist(),
        "repeat": ([7, 300, 42, 9] * 6),
        "long": rng.integers(0, VOCAB, 600).tolist(),
    }
    positions = {"short": list(range(12)), "repeat": [0, 5, 23], "long": [0, 1, 255, 511, 512, 513, 598, 599]}
    out = {}
    for name, spec in MODELS.items():
        model = build(name, spec)
        tensors = {k: v.to(torch.float32).contiguous() for k, v in model.state_dict().items()}
        if spec["tied"]:
            tensors.pop("lm_head.weight", None)
        save_file(tensors, os.path.join(here, f"{name}.safetensors"))
        write_gguf(name, spec, model)
        seqs = []
        for sname, toks in sequences.items():
            with torch.no_grad():
                logits = model(torch.tensor([toks])).logits[0]
            seqs.append(dict(name=sname, tokens=toks, positions=positions[sname],
                             logits=[logits[p].tolist() for p in positions[sname]]))
        out[name] = dict(transformers=__import__("transformers").__version__, torch=torch.__version__, sequences=seqs)
    with open(os.path.join(here, "llama_reference.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
