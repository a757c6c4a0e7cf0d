"""Training throughput by freezing mode, against Hugging Face transformers on PyTorch.

Two modes. Synthetic (default): full-length batches, step times per freezing mode.
``--real``: one epoch on the built-in Rotten Tomatoes split at max length 64, for ``last:2``
and ``none``: bertpipe's ``run_train`` with its defaults (length-bucketed batches, automatic
precision) and in float32, against the Hugging Face peer loop with the tokenizer's dynamic
padding (``padding=True``: each batch padded to its longest text), each with its own learning
rate; training seconds without validation, examples/s and eval accuracy of each.

Same weights (all-MiniLM-L6-v2), batch 32, sequence length 128, the same number of CPU
threads for both. For each freezing mode (``none``, ``last:2``, ``all``) we time real
bertpipe training steps (``build_classifier`` + Keras ``fit``, AdamW, MirroredStrategy on
the CPU), and compare the step time with the theoretical ratio (k + 3(L - k)) / 3L for k of
L blocks frozen (a frozen block costs its forward pass only; a trainable one about 3x).

Baseline: ``BertForSequenceClassification`` from the same folder, ``model.train()``,
``torch.optim.AdamW``, fp32, ``torch.set_num_threads(N)`` -- the normal PyTorch fine-tuning
loop that the transformers docs show. Needs the ``reference`` extra (torch, transformers).

    .venv/bin/python benchmarks/train.py [--steps 8] [--warmup 3]
    .venv/bin/python benchmarks/train.py --real [--seeds 1]   # ~20 min on 2 cores, +12 per seed

The last output line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import components  # noqa: E402,F401
from components.encoders.sources import import_encoder, resolve_hf_folder  # noqa: E402

BATCH, SEQ, LAYERS = 32, 128, 6
MODES = {"none": 0, "last:2": 4, "all": 6}  # spec -> frozen blocks k


def synthetic_batch(seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, 30000, (BATCH, SEQ)).astype(np.int32)
    ids[:, 0], ids[:, -1] = 101, 102
    return ids, np.ones_like(ids), np.zeros_like(ids), rng.integers(0, 2, BATCH).astype(np.int32)


def bertpipe_step_seconds(encoder_dir: str, freeze: str, steps: int, warmup: int) -> float:
    import tensorflow as tf

    from components.keras import keras
    from components.model.classifier import build_classifier

    ids, mask, types, labels = synthetic_batch()
    features = {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}
    ds = tf.data.Dataset.from_tensors((features, labels)).repeat()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model, _, _ = build_classifier(encoder_dir, 2, freeze, "mean", 0.1)
        model.compile(optimizer=keras.optimizers.AdamW(learning_rate=2e-5),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(ds, steps_per_epoch=warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return (time.perf_counter() - start) / steps


def hf_step_seconds(steps: int, warmup: int, threads: int) -> float:
    import torch
    from transformers import BertForSequenceClassification

    torch.set_num_threads(threads)
    model = BertForSequenceClassification.from_pretrained(
        str(resolve_hf_folder("minilm-l6")), num_labels=2)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    ids, mask, types, labels = (torch.as_tensor(x, dtype=torch.long) for x in synthetic_batch())

    def step():
        optimizer.zero_grad()
        loss = model(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels).loss
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--real", action="store_true",
                        help="one epoch on Rotten Tomatoes against the HF peer")
    parser.add_argument("--seeds", type=int, default=1,
                        help="--real: bertpipe runs per setting (accuracy averaged)")
    args = parser.parse_args()
    if args.real:
        from train_real import main as real_main

        real_main(args.seeds)
        return
    threads = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        encoder_dir = str(Path(tmp) / "encoder")
        import_encoder("minilm-l6", Path(encoder_dir))
        step_s = {}
        for freeze in MODES:
            step_s[freeze] = bertpipe_step_seconds(encoder_dir, freeze, args.steps, args.warmup)
            print(json.dumps({"freeze": freeze, "step_s": round(step_s[freeze], 4),
                              "examples_per_s": round(BATCH / step_s[freeze], 2)}), flush=True)
    hf = hf_step_seconds(args.steps, args.warmup, threads)
    print(json.dumps({"hf_step_s": round(hf, 4), "hf_examples_per_s": round(BATCH / hf, 2)}),
          flush=True)

    def theory(k: int) -> float:
        return (k + 3 * (LAYERS - k)) / (3 * LAYERS)

    print(json.dumps({
        "benchmark": "train", "machine": f"{platform.machine()}, {threads} cores",
        "batch": BATCH, "seq_len": SEQ, "threads": threads,
        "hf_examples_per_s": round(BATCH / hf, 2),
        "none_examples_per_s": round(BATCH / step_s["none"], 2),
        "last2_examples_per_s": round(BATCH / step_s["last:2"], 2),
        "all_examples_per_s": round(BATCH / step_s["all"], 2),
        "ratio_vs_hf": round(hf / step_s["none"], 3),
        "last2_step_ratio": round(step_s["last:2"] / step_s["none"], 3),
        "all_step_ratio": round(step_s["all"] / step_s["none"], 3),
        "last2_theory": round(theory(MODES["last:2"]), 3),
        "all_theory": round(theory(MODES["all"]), 3),
    }))


if __name__ == "__main__":
    main()
