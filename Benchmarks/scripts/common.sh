# Sourced by the scripts that write results: where their files go, and the index of results/.
#
# Committed results must come from a clean tree, so that the commit each file names is the
# code that produced it. On a tree with uncommitted changes outside results/ the scripts
# write to results/local/ instead (ignored by git) and say so; OPBENCH_RESULTS=DIR overrides.
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [ -n "${OPBENCH_RESULTS:-}" ]; then
  out=$OPBENCH_RESULTS
elif [ -n "$(git status --porcelain --untracked-files=no -- . ':(exclude)results' 2>/dev/null)" ]; then
  out=results/local
  echo "note: the tree has uncommitted changes; writing to $out/ (not for commit)" >&2
else
  out=results
fi
mkdir -p "$out"
bin=.build/release/opbench

# Rewrites $out/README.md: every results file, what it shows, the command and commit that
# made it (read from the file itself).
write_index() {
  python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
what = {
    "quick.json": "bench --suite quick: every variant at small shapes (Benchmarks/scripts/quick.sh)",
    "quick-model.json": "MiniLM-L6 real weights, three plans (quick.sh)",
    "quick.md": "report of quick.json and quick-model.json (quick.sh)",
    "baseline.json": "the gate baseline: the quick suite in 5 rounds (Benchmarks/scripts/baseline.sh), AMD EPYC Zen 4 with AVX-512",
    "baseline-avx2.json": "the gate baseline for AVX2-only machines (baseline.sh baseline-avx2.json), AMD EPYC Zen 3",
    "baseline-zen5.json": "the gate baseline for AMD EPYC Zen 5 with AVX-512 VNNI, 48K L1d (baseline.sh baseline-zen5.json)",
    "baseline-xeon.json": "the gate baseline for the Intel Xeon VM (Sapphire/Emerald Rapids, AVX-512 VNNI/BF16, 2 MiB L2; baseline.sh baseline-xeon.json)",
    "avx2-formats-cold.json": "the decode GEMV 1x4096x14336 cold in Q4_0, Q8_0, Q4_K, Q6_K, simd and blas, 1 and 2 threads, on the AVX2 Zen 3 VM",
    "avx2-llama-ops.json": "rmsnorm, swiglu and rope, bench --suite full, 1 and 2 threads, on the AVX2 Zen 3 VM",
    "avx2-new.md": "report of avx2-formats-cold.json and avx2-llama-ops.json",
    "quant-vs-llamacpp.txt": "OpBench's quantizers against llama.cpp's, block by block (Benchmarks/scripts/check-kquants.py)",
    "gguf-vs-llamacpp.txt": "GGUF exports run by OpBench and llama.cpp on the same tokens (Benchmarks/scripts/check-gguf-llamacpp.py)",
    "perf.md": "report of perf/1-8.json: the performance targets side by side (Benchmarks/scripts/perf.sh)",
    "ablation.md": "the ablation chains, each step side by side (perf.sh)",
    "perf/ablation.json": "raw results behind ablation.md (perf.sh)",
    "model.md": "report of the model-*.json runs (Benchmarks/scripts/models.sh)",
    "model-gpt2.json": "gpt2-small plan comparison, synthetic weights (models.sh)",
    "model-tinyllama.json": "tinyllama-1.1b in f32, Q8_0, Q4_0 and Q4_K_M, 2 threads, synthetic weights (Benchmarks/scripts/llama.sh)",
    "model-tinyllama.md": "report of model-tinyllama.json (llama.sh)",
    "model-gpt2-896-all.json": "gpt2-small at 896 tokens, dense causal attention (models.sh)",
    "model-gpt2-896-window.json": "gpt2-small at 896 tokens, window 128 + 4 global (models.sh)",
    "model-minilm.json": "MiniLM-L6 real weights, five plans (models.sh)",
    "peer.json": "OpBench beside llama.cpp on the same GGUF files: MiniLM-L6 and gpt2-small, f32/Q8_0/Q4_0, pp12/128/512 and tg128, 1 and 2 threads (Benchmarks/scripts/peer-llamacpp.sh)",
    "peer.md": "table of peer.json (peer-llamacpp.sh)",
    "peer-ggml.json": "ggml's CPU_REPACK quantized matmul beside int4.act8, int4.simd and matmul.blas, 1 and 2 threads (peer-llamacpp.sh)",
    "peer-ggml.md": "table of peer-ggml.json (peer-llamacpp.sh)",
    "peer-ort.json": "ONNX Runtime fp32 and int8 beside OpBench f32 and Q8_0 + act8 on MiniLM-L6, accuracy vs transformers in float64 (peer-llamacpp.sh)",
    "peer-ort.md": "table of peer-ort.json (peer-llamacpp.sh)",
    "gate-reliability.log": "false alarms and caught slowdowns of opbench gate (Benchmarks/scripts/gate-reliability.sh)",
    "gate-reliability-xeon.log": "the same on the Intel Xeon VM, against baseline-xeon-reliability.json (gate-reliability.sh)",
    "baseline-xeon-reliability.json": "the quick suite in 5 rounds on the Intel Xeon VM, the baseline of gate-reliability-xeon.log (baseline.sh)",
    "peer-llama.json": "OpBench's act8 plan beside llama.cpp on tinyllama-1.1b GGUF files (Q8_0, Q4_0, Q4_K_M): pp128, tg128, pp512, 1 and 2 threads, unscored (peer-llamacpp.sh)",
    "peer-llama.md": "table of peer-llama.json (peer-llamacpp.sh)",
    "peer-llama32.json": "the same for llama-3.2-1b in Q4_K_M (PEER_LLAMA_PRESET=llama-3.2-1b PEER_LLAMA_FORMATS=q4_k_m PEER_LLAMA_OUT=peer-llama32)",
    "peer-llama32.md": "table of peer-llama32.json (peer-llamacpp.sh)",
    "tune-model-t1.json": "MiniLM-L6 real weights at 128 tokens, the default plan and --plan auto from the tuning file, 1 thread (Benchmarks/scripts/tune.sh)",
    "tune-model-t2.json": "the same on 2 threads (tune.sh)",
    "what-if.json": "gpt2-small model --what-if: every one-operator swap of the default plan, predicted then measured (tune.sh)",
    "tune.md": "report of tune-model-t1/t2.json and what-if.json (tune.sh)",
}
for f in os.listdir(out):
    if f.startswith("history-") and f.endswith(".md"):
        what[f] = "the steps found across commits on one kind of machine, " + f[8:-3] + " (Benchmarks/scripts/history.sh)"
for f in os.listdir(os.path.join(out, "tuning")) if os.path.isdir(os.path.join(out, "tuning")) else []:
    what["tuning/" + f] = "opbench tune's choices for this kind of machine, which the auto variants follow (tune.sh)"
for i in range(1, 9):
    what[f"perf/{i}.json"] = "raw results behind perf.md, group %d of perf.sh" % i
# Reports are made from results files; they carry their sources' provenance.
derived = {"tune.md": "tune-model-t1.json", "peer.md": "peer.json", "peer-ggml.md": "peer-ggml.json", "peer-ort.md": "peer-ort.json", "peer-llama.md": "peer-llama.json", "peer-llama32.md": "peer-llama32.json", "quick.md": "quick.json", "perf.md": "perf/1.json", "ablation.md": "perf/ablation.json", "model.md": "model-gpt2.json"}
rows = []
for root, _, files in os.walk(out):
    for f in sorted(files):
        path = os.path.relpath(os.path.join(root, f), out)
        if path == "README.md" or path.startswith("local/") or f.endswith(".html"):
            continue
        commit = when = command = ""
        if f.endswith(".json"):
            try:
                d = json.load(open(os.path.join(root, f)))
                commit = d.get("opbench_commit", d.get("machine", {}).get("opbench_commit", ""))
                when = d.get("timestamp", d.get("updated", ""))
                command = d.get("settings", {}).get("command", d.get("command", ""))
            except Exception:
                pass
        elif f.endswith(".log"):
            for line in open(os.path.join(root, f)):
                if line.startswith("commit "): commit = line.split()[1]
                if line.startswith("date "): when = line.split()[1]
                if line.startswith("command "): command = line[len("command "):].strip()
        elif path in derived and os.path.exists(os.path.join(out, derived[path])):
            d = json.load(open(os.path.join(out, derived[path])))
            commit, when = d.get("opbench_commit", ""), d.get("timestamp", "")
            command = "made with " + derived[path] + " by the same script"
        command = command.replace(os.path.expanduser("~"), "~")
        if len(command) > 160: command = command[:157] + "..."
        rows.append((path, what.get(path, ""), commit, when, command))
rows.sort()
with open(os.path.join(out, "README.md"), "w") as fh:
    fh.write("# results/\n\nWritten by the scripts in Benchmarks/scripts from a clean tree (the scripts write to\n"
             "results/local/ when the tree has uncommitted changes); this index is rewritten by each of them.\n"
             "HTML reports are generated next to the Markdown ones and not committed.\n"
             "A commit marked dirty (a suffix the recorded commit gets when the tree had changes) should not be here.\n\n"
             "| file | what it shows | commit | recorded | command |\n|---|---|---|---|---|\n")
    for r in rows:
        fh.write("| " + " | ".join(x.replace("|", "\\|") for x in r) + " |\n")
PY
}
