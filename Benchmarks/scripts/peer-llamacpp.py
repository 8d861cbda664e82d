#!/usr/bin/env python3
"""OpBench and llama.cpp side by side on the same GGUF files: prompt processing (12, 128 and
512 tokens) and, for decoders, 128 decode steps; 1 and 2 threads; rounds alternating which
engine goes first; medians of every timed pass. Both engines get the same token ids, and
their outputs for those tokens (a decoder's logits, an encoder's final hidden states with
pooling none) are compared: cosine per token, top-1 agreement. Run by peer-llamacpp.sh.

  python3 peer-llamacpp.py OPBENCH OUT.json OUT.md NAME=FILE.gguf[:encoder|decoder[:unscored]] ...

Environment: PEER_PROMPTS (12,128,512), PEER_THREADS (1,2), PEER_ROUNDS (3), PEER_REPS (3 timed
passes per engine and round), PEER_DECODE (128), PEER_PLANS (exact,act8: OpBench's plans for
quantized files). An `unscored` model runs OpBench with `--reference none` (no fp64 pass, which
costs minutes per run for a 1B model; its accuracy column then says "not scored": the
agreement with llama.cpp's logits is still measured).

llama.cpp runs with its defaults (weight repacking on, flash attention auto), n_batch =
n_ubatch = 512, pooling none. OpBench runs each quantized file in two plans: the exact path
(int4=simd) and 8-bit activations (int4=act8), which rounds as llama.cpp does.
"""
import json, os, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402
import numpy as np
import llama_cpp

PROMPTS = [int(p) for p in os.environ.get("PEER_PROMPTS", "12,128,512").split(",")]
THREADS = [int(t) for t in os.environ.get("PEER_THREADS", "1,2").split(",")]
ROUNDS = int(os.environ.get("PEER_ROUNDS", "3"))
REPS = int(os.environ.get("PEER_REPS", "3"))
DECODE = int(os.environ.get("PEER_DECODE", "128"))
PLANS = {"exact": "int4=simd,weights=stored", "act8": "int4=act8,weights=stored"}
QUANTIZED_PLANS = [PLANS[p] for p in os.environ.get("PEER_PLANS", "exact,act8").split(",")]

opbench, out_path, md_path = sys.argv[1], sys.argv[2], sys.argv[3]
models = []
for arg in sys.argv[4:]:
    name, rest = arg.split("=", 1)
    path, _, kind = rest.partition(":")
    kind, _, scoring = kind.partition(":")
    models.append((name, path, kind or "decoder", scoring != "unscored"))

llama_cpp.llama_backend_init()
# Silence llama.cpp's log (the callback object must outlive every call into the library).
_quiet = llama_cpp.llama_log_callback(lambda level, text, data: None)
llama_cpp.llama_log_set(_quiet, None)


class LlamaEngine:
    """One llama.cpp context per (file, threads), reused over rounds."""

    def __init__(self, path, threads, encoder, n_ctx):
        self.encoder = encoder
        mp = llama_cpp.llama_model_default_params()
        self.model = llama_cpp.llama_model_load_from_file(path.encode(), mp)
        assert self.model, f"llama.cpp could not load {path}"
        cp = llama_cpp.llama_context_default_params()
        cp.n_ctx, cp.n_batch, cp.n_ubatch = n_ctx, 512, 512
        cp.n_threads = cp.n_threads_batch = threads
        cp.embeddings = encoder
        if encoder:
            cp.pooling_type = 0
        self.ctx = llama_cpp.llama_init_from_model(self.model, cp)
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.n_embd = llama_cpp.llama_model_n_embd(self.model)
        self.batch = llama_cpp.llama_batch_init(max(n_ctx, 512), 0, 1)

    def _fill(self, tokens, start, outputs):
        """outputs: True (every token), False (none) or "last"."""
        b = self.batch
        for i, t in enumerate(tokens):
            out = outputs is True or (outputs == "last" and i == len(tokens) - 1)
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = int(t), start + i, 1, out
            b.seq_id[i][0] = 0
        b.n_tokens = len(tokens)

    def prompt(self, tokens, outputs=False):
        """Seconds to process the prompt in one batch (a fresh sequence)."""
        if not self.encoder:
            llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self.ctx), True)
        self._fill(tokens, 0, True if self.encoder else outputs)
        t0 = time.perf_counter()
        rc = llama_cpp.llama_encode(self.ctx, self.batch) if self.encoder else llama_cpp.llama_decode(self.ctx, self.batch)
        t1 = time.perf_counter()
        assert rc == 0, f"llama.cpp returned {rc}"
        return t1 - t0

    def decode(self, prompt, steps):
        """Seconds for `steps` one-token decode steps after `prompt` (greedy)."""
        self.prompt(prompt, outputs="last")
        last = llama_cpp.llama_get_logits_ith(self.ctx, -1)
        tok = int(np.ctypeslib.as_array(last, shape=(self.n_vocab,)).argmax())
        t0 = time.perf_counter()
        for s in range(steps):
            self._fill([tok], len(prompt) + s, True)
            assert llama_cpp.llama_decode(self.ctx, self.batch) == 0
            tok = int(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.ctx, 0), shape=(self.n_vocab,)).argmax())
        return time.perf_counter() - t0

    def outputs(self, tokens):
        """Logits (decoder) or final hidden states (encoder) for every token."""
        self.prompt(tokens, outputs=True)
        if self.encoder:
            rows = [llama_cpp.llama_get_embeddings_ith(self.ctx, i) for i in range(len(tokens))]
            return np.array([np.ctypeslib.as_array(r, shape=(self.n_embd,)) for r in rows], dtype=np.float64)
        rows = [llama_cpp.llama_get_logits_ith(self.ctx, i) for i in range(len(tokens))]
        return np.array([np.ctypeslib.as_array(r, shape=(self.n_vocab,)) for r in rows], dtype=np.float64)


def opbench_run(path, tokens, threads, plans, generate, save=None, scored=True):
    """OpBench's figures per plan: prefill and decode tokens/s samples, accuracy vs fp64."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r.json")
        args = [opbench, "model", "--gguf", path, "--tokens", ",".join(map(str, tokens)), "--threads", str(threads),
                "--repetitions", str(REPS), "--generate", str(generate), "--output", out,
                "--reference", "fp64" if scored else "none"]
        for p in plans:
            args += ["--plan", p]
        if save:
            args += save
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"opbench failed ({r.returncode}): {' '.join(args)}\n{r.stderr}")
        return json.load(open(out))["models"]


def cosines(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


rng = np.random.default_rng(7)
records = []
for name, path, kind, scored in models:
    encoder = kind == "encoder"
    quantized = not name.endswith("f32")
    plans = QUANTIZED_PLANS if quantized else ["matmul=simd"]
    for threads in THREADS:
        engine = LlamaEngine(path, threads, encoder, n_ctx=max(PROMPTS) + DECODE + 8)
        vocab = engine.n_vocab
        for prompt in PROMPTS:
            tokens = [int(t) for t in rng.integers(1000, min(vocab, 30000), prompt)]
            # Decode steps only after the 128-token prompt (llama-bench's tg128 after pp128).
            steps = DECODE if (not encoder and prompt == 128) else 0
            times = {"llama.cpp": [], "llama.cpp decode": []}
            ours = {p: {"prefill": [], "decode": []} for p in plans}
            for r in range(ROUNDS):
                def llama_side():
                    engine.prompt(tokens)  # warm-up
                    for _ in range(REPS):
                        times["llama.cpp"].append(prompt / engine.prompt(tokens))
                    if steps:
                        times["llama.cpp decode"].append(steps / engine.decode(tokens, steps))

                def opbench_side():
                    for m in opbench_run(path, tokens, threads, plans, steps, scored=scored):
                        key = next((p for p in plans if p.split(",")[0] in m["plan"]), plans[0])
                        ours[key]["prefill"] += m["prefill_tokens_per_second"]
                        ours[key]["decode"] += m["decode_tokens_per_second"]
                        ours[key]["accuracy"] = {k: m.get(k) for k in ("cosine", "min_token_cosine", "max_abs_error", "top1_agreement", "mean_kl")}
                        ours[key]["plan"] = m["plan"]
                for side in ((llama_side, opbench_side) if r % 2 == 0 else (opbench_side, llama_side)):
                    side()
            # Agreement of the two engines' outputs for the same tokens (each OpBench plan).
            theirs = engine.outputs(tokens)
            agree = {}
            for p in plans:
                with tempfile.TemporaryDirectory() as tmp:
                    f = os.path.join(tmp, "o.npy")
                    flag = "--save-hidden" if encoder else "--save-logits"
                    saved = opbench_run(path, tokens, threads, [p], 0, save=[flag, f], scored=scored)
                    mine = np.load(f).astype(np.float64)
                c = cosines(mine, theirs)
                agree[p] = {"min_token_cosine": float(c.min()), "mean_token_cosine": float(c.mean())}
                if not encoder:
                    agree[p]["top1_agreement"] = float((mine.argmax(1) == theirs.argmax(1)).mean())
            rec = {"model": name, "file": os.path.basename(path), "architecture": kind, "threads": threads, "prompt_tokens": prompt,
                   "llama_cpp": {"engine": "llama.cpp", "version": f"llama-cpp-python {llama_cpp.__version__}",
                                 "system_info": llama_cpp.llama_print_system_info().decode().strip(),
                                 "prefill_tokens_per_second": times["llama.cpp"],
                                 "decode_tokens_per_second": times["llama.cpp decode"]},
                   "opbench": {p: {"plan": ours[p].get("plan", p), "prefill_tokens_per_second": ours[p]["prefill"],
                                   "decode_tokens_per_second": ours[p]["decode"], "accuracy_vs_fp64": ours[p].get("accuracy"),
                                   "agreement_with_llama_cpp": agree[p]} for p in plans},
                   "decode_steps": steps}
            records.append(rec)
            med = statistics.median
            line = f"{name} t={threads} pp{prompt}: llama.cpp {med(times['llama.cpp']):.0f} tok/s"
            for p in plans:
                line += f", opbench {p} {med(ours[p]['prefill']):.0f} ({med(ours[p]['prefill']) / med(times['llama.cpp']):.2f}x)"
            if steps:
                line += f"; tg{steps}: llama.cpp {med(times['llama.cpp decode']):.1f}"
                for p in plans:
                    line += f", {p} {med(ours[p]['decode']):.1f} ({med(ours[p]['decode']) / med(times['llama.cpp decode']):.2f}x)"
            print(line, flush=True)
        del engine

doc = peerlib.document("peer-llamacpp.py", rounds=ROUNDS, repetitions=REPS, records=records)

def md(doc):
    med = statistics.median
    lines = [f"# OpBench and llama.cpp on the same GGUF files", "",
             f"OpBench {doc['opbench_commit']}; {records[0]['llama_cpp']['version'] if records else ''}; {doc['cpu']}; "
             f"{doc['rounds']} rounds alternating which engine goes first, {doc['repetitions']} timed passes per engine and round; "
             "medians in tokens/s, ratio = OpBench / llama.cpp. Agreement: the two engines' outputs for the same tokens "
             "(final hidden states for encoders, logits for decoders). KL: OpBench's mean KL (decoders) or min token cosine "
             "(encoders) against its fp64 pass over the stored weights.", "",
             "| model | thr | tokens | llama.cpp | OpBench exact (int4=simd / f32) | OpBench act8 | agreement min cos (top-1) | act8 vs fp64 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in doc["records"]:
        ref = med(r["llama_cpp"]["prefill_tokens_per_second"])
        cells = []
        exact = next((v for k, v in r["opbench"].items() if "act8" not in k), None)
        act8 = next((v for k, v in r["opbench"].items() if "act8" in k), None)
        for p in (exact, act8):
            if p is None:
                cells.append("–")
            else:
                v = med(p["prefill_tokens_per_second"])
                cells.append(f"{v:.0f} ({v / ref:.2f}×)")
        last = act8 or exact
        ag = last["agreement_with_llama_cpp"]
        agree = f"{ag['min_token_cosine']:.5f}" + (f" ({ag['top1_agreement'] * 100:.0f}%)" if "top1_agreement" in ag else "")
        acc = last.get("accuracy_vs_fp64") or {}
        if not act8:
            fp = "exact"
        elif acc.get("mean_kl") is not None:
            fp = f"KL {acc['mean_kl']:.1e}"
        elif acc.get("min_token_cosine") is not None:
            fp = f"min cos {acc['min_token_cosine']:.5f}"
        else:
            fp = "not scored"
        lines.append(f"| {r['model']} | {r['threads']} | pp{r['prompt_tokens']} | {ref:.0f} | {cells[0]} | {cells[1]} | {agree} | {fp} |")
        if r["decode_steps"]:
            ref = med(r["llama_cpp"]["decode_tokens_per_second"])
            cells = []
            for p in (exact, act8):
                cells.append("–" if p is None else f"{med(p['decode_tokens_per_second']):.1f} ({med(p['decode_tokens_per_second']) / ref:.2f}×)")
            lines.append(f"| {r['model']} | {r['threads']} | tg{r['decode_steps']} | {ref:.1f} | {cells[0]} | {cells[1]} | | |")
    return "\n".join(lines) + "\n"


peerlib.write(doc, md(doc), out_path, md_path)
