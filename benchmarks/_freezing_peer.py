"""The Hugging Face peer of ``benchmarks/freezing.py``: transformers on PyTorch, CPU.

``BertForSequenceClassification`` from the same MiniLM folder bertpipe imports, fine-tuned in
the plain PyTorch loop of the transformers docs, with bertpipe's hyper-parameters (not the
docs' learning rate): AdamW at bertpipe's peak learning rate, betas (0.9, 0.999), epsilon
1e-7 (Keras' default), weight decay 0.01 except on LayerNorm weights and biases (as bertpipe
excludes them), ``get_linear_schedule_with_warmup`` with 10 % warmup (the same curve as
bertpipe's ``WarmupLinearDecay``), global-norm clipping 1.0, dropout 0.1, the same epochs and
batch size. Precision: ``bfloat16`` runs the forward pass and the loss under
``torch.autocast("cpu", dtype=torch.bfloat16)`` (weights, gradients and AdamW in float32), what
the transformers docs advise for training on a CPU with native bfloat16 (``Trainer``'s
``bf16=True, use_cpu=True``); ``float32`` none of it. Scoring runs in float32 either way.
Batches are shuffled with a seeded generator and tokenized on the fly with ``padding=True``
(each batch padded to its longest example) and longest-first truncation to the task's max
length, as bertpipe truncates pairs. ``last:N`` freezes the embeddings and
the blocks below the top N (``requires_grad=False``).

Differences that stay: the peer's head is its own (the pooler's tanh over ``[CLS]``, then
dropout and a linear layer; bertpipe's is mean pooling, dropout, linear), and it trains on its
own batch order.

Imports no TensorFlow: the parent hands it the texts and labels as JSON.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np


def trainable_blocks(mode: str, layers: int) -> int:
    """Top blocks that train under ``none`` or ``last:N`` (the only modes the peer runs)."""
    if mode == "none":
        return layers
    if mode.startswith("last:"):
        return int(mode[5:])
    raise ValueError(f"the peer runs 'none' or 'last:N', not {mode!r}")


def macro_f1(labels: np.ndarray, predictions: np.ndarray, num_labels: int) -> float:
    scores = []
    for c in range(num_labels):
        tp = int(((predictions == c) & (labels == c)).sum())
        fp = int(((predictions == c) & (labels != c)).sum())
        fn = int(((predictions != c) & (labels == c)).sum())
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))


def run_peer(spec: dict) -> dict:
    """One peer run; ``spec``: data_file, hf_folder, mode, seed, threads, epochs, batch_size,
    max_seq_length, learning_rate, warmup_fraction, weight_decay, clip_norm, peer_precision
    (``float32`` or ``bfloat16``)."""
    import contextlib

    import torch
    import transformers
    from transformers import AutoTokenizer, BertForSequenceClassification
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(spec["seed"])
    torch.set_num_threads(spec["threads"])
    data = json.loads(Path(spec["data_file"]).read_text(encoding="utf-8"))
    texts, pairs = data["train_texts"], data["train_pairs"]
    labels = np.asarray(data["train_labels"])
    batch_size, max_len, epochs = spec["batch_size"], spec["max_seq_length"], spec["epochs"]
    tokenizer = AutoTokenizer.from_pretrained(spec["hf_folder"])
    model = BertForSequenceClassification.from_pretrained(
        spec["hf_folder"], num_labels=data["num_labels"], hidden_dropout_prob=0.1)
    layers = len(model.bert.encoder.layer)
    top = trainable_blocks(spec["mode"], layers)
    if spec["mode"] != "none":  # last:N: the embeddings and the blocks below the top N
        for module in [model.bert.embeddings, *model.bert.encoder.layer[:layers - top]]:
            for param in module.parameters():
                param.requires_grad = False
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    no_decay = [p for n, p in named if "LayerNorm" in n or n.endswith("bias")]
    decay = [p for n, p in named if not ("LayerNorm" in n or n.endswith("bias"))]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": spec["weight_decay"]},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=spec["learning_rate"], betas=(0.9, 0.999), eps=1e-7)
    steps_per_epoch = math.ceil(len(texts) / batch_size)
    total = steps_per_epoch * epochs
    schedule = get_linear_schedule_with_warmup(
        optimizer, int(spec["warmup_fraction"] * total), total)
    params = [p for _, p in named]

    def encode(idx):
        second = [pairs[j] for j in idx] if data["is_pair"] else None
        return tokenizer([texts[j] for j in idx], second, padding=True,
                         truncation="longest_first", max_length=max_len, return_tensors="pt")

    precision = spec.get("peer_precision", "float32")
    if precision not in ("float32", "bfloat16"):
        raise ValueError(f"peer_precision is float32 or bfloat16, not {precision!r}")

    def autocast():
        return (torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bfloat16"
                else contextlib.nullcontext())

    rng = np.random.default_rng(spec["seed"])
    model.train()
    epoch_s = []
    start = time.perf_counter()
    for _ in range(epochs):
        epoch_start = time.perf_counter()
        order = rng.permutation(len(texts))
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            with autocast():
                out = model(**encode(idx),
                            labels=torch.as_tensor(labels[idx], dtype=torch.long))
            out.loss.backward()
            if spec["clip_norm"]:
                torch.nn.utils.clip_grad_norm_(params, spec["clip_norm"])
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
        epoch_s.append(time.perf_counter() - epoch_start)
    train_s = time.perf_counter() - start

    model.eval()
    eval_texts, eval_pairs = data["eval_texts"], data["eval_pairs"]
    eval_labels = np.asarray(data["eval_labels"])
    predictions = []
    with torch.no_grad():
        for i in range(0, len(eval_texts), 64):
            second = eval_pairs[i:i + 64] if data["is_pair"] else None
            batch = tokenizer(eval_texts[i:i + 64], second, padding=True,
                              truncation="longest_first", max_length=max_len,
                              return_tensors="pt")
            predictions.append(model(**batch).logits.argmax(-1).numpy())
    predicted = np.concatenate(predictions)
    return {
        "status": "ok", "precision": precision, "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tensorflow_loaded": "tensorflow" in sys.modules,
        "trainable_blocks": top, "embeddings_trainable": spec["mode"] == "none",
        "trainable_params": sum(p.numel() for p in params),
        "steps": total, "examples": len(texts) * epochs,
        "train_s": round(train_s, 2), "epoch_s": [round(s, 2) for s in epoch_s],
        "examples_per_s": round(len(texts) * epochs / train_s, 2),
        "step_s": round(train_s / total, 4),
        "accuracy": round(float((predicted == eval_labels).mean()), 4),
        "macro_f1": round(macro_f1(eval_labels, predicted, data["num_labels"]), 4),
        "eval_examples": int(len(eval_labels)),
    }
