#!/usr/bin/env python3
"""ggml's CPU matmul of quantized weights (peer-ggml-matmul, built against llama-cpp-python's
libggml, weights in CPU_REPACK) beside OpBench's int4 variants and matmul.blas (fp32, the
same shape as A·Wᵀ), rounds alternating which engine goes first, medians. Run by
peer-llamacpp.sh.

  python3 peer-ggml.py OPBENCH GGML_BINARY OUT.json OUT.md

Environment: PEER_GGML_SHAPES (512x4096x14336,q4_0 512x4096x14336,q8_0 12x4096x14336,q4_0),
PEER_THREADS (1,2), PEER_ROUNDS (3), PEER_REPS (5 timed runs per engine and round).
"""
import json, os, statistics, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

opbench, ggml, out_path, md_path = sys.argv[1:5]
SHAPES = os.environ.get("PEER_GGML_SHAPES", "512x4096x14336,q4_0 512x4096x14336,q8_0 12x4096x14336,q4_0").split()
THREADS = [int(t) for t in os.environ.get("PEER_THREADS", "1,2").split(",")]
ROUNDS = int(os.environ.get("PEER_ROUNDS", "3"))
REPS = int(os.environ.get("PEER_REPS", "5"))


def ggml_side(fmt, m, k, n, t):
    r = subprocess.run([ggml, fmt, str(m), str(k), str(n), str(t), str(REPS)], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"peer-ggml-matmul failed: {r.stderr}")
    lines = [l.split() for l in r.stdout.splitlines() if l.startswith("ggml ")]
    buffer = lines[0][4].split("=", 1)[1]
    return [float(l[5].split("=", 1)[1]) for l in lines], buffer


def opbench_side(shape, fmt, m, k, n, t):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "b.json")
        q = f"{m}x{k}x{n}" + ("" if fmt == "q4_0" else f",{fmt}")
        args = [opbench, "bench", "--op", "int4,matmul", "--variant", "int4.simd,int4.act8,matmul.blas",
                "--shape", q, "--shape", f"{m}x{k}x{n},nk", "--threads", str(t), "-r", str(REPS), "--output", out]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"opbench bench failed: {r.stderr}")
        doc = json.load(open(out))
        return {c["id"]: c["samples_seconds"] for c in doc["cases"]}


records = []
for shape in SHAPES:
    dims, fmt = shape.split(",")
    m, k, n = map(int, dims.split("x"))
    for t in THREADS:
        samples = {"ggml": []}
        buffer = ""
        for r in range(ROUNDS):
            def g():
                global buffer
                s, buffer = ggml_side(fmt, m, k, n, t)
                samples["ggml"].extend(s)

            def o():
                for key, s in opbench_side(shape, fmt, m, k, n, t).items():
                    samples.setdefault(key, []).extend(s)
            for side in ((g, o) if r % 2 == 0 else (o, g)):
                side()
        flops = 2 * m * k * n
        med = {key: statistics.median(v) for key, v in samples.items()}
        rec = {"shape": shape, "threads": t, "ggml_buffer": buffer, "flops": flops,
               "median_seconds": med, "samples_seconds": samples}
        records.append(rec)
        print(f"{shape} t={t}: " + ", ".join(f"{key} {med[key] * 1e3:.1f} ms ({flops / med[key] / 1e9:.0f} GFLOP/s)"
                                             for key in med), flush=True)

import llama_cpp  # noqa: E402  (only for its version)
doc = peerlib.document("peer-ggml.py", ggml=f"libggml of llama-cpp-python {llama_cpp.__version__}", rounds=ROUNDS, repetitions=REPS,
                       records=records)
commit = doc["opbench_commit"]
lines = ["# ggml's quantized matmul beside OpBench's", "",
         f"OpBench {commit}; {doc['ggml']}, the weights in the buffer type llama.cpp's loader would pick (CPU_REPACK where "
         "it has a layout for the type); "
         f"{ROUNDS} rounds alternating which goes first, {REPS} timed runs each per round; medians. "
         "GFLOP/s-equivalent = 2·M·N·K / time; ratio = ggml time / OpBench time (above 1: OpBench faster).", "",
         "| shape | thr | ggml (buffer) | int4.act8 | int4.simd | matmul.blas (fp32) | act8 vs ggml | act8 vs blas |",
         "|---|---|---|---|---|---|---|---|"]
for r in records:
    med, f = r["median_seconds"], r["flops"]

    def cell(key):
        return f"{med[key] * 1e3:.1f} ms ({f / med[key] / 1e9:.0f})" if key in med else "–"
    act8 = med.get("int4.act8")
    lines.append(f"| {r['shape']} | {r['threads']} | {cell('ggml')} {r['ggml_buffer']} | {cell('int4.act8')} | {cell('int4.simd')} | "
                 f"{cell('matmul.blas')} | {med['ggml'] / act8:.2f}× | {med['matmul.blas'] / act8:.2f}× |")
peerlib.write(doc, "\n".join(lines) + "\n", out_path, md_path)
