"""``benchmarks/train.py --real``: one epoch of real fine-tuning, bertpipe against Hugging Face.

Data: the built-in Rotten Tomatoes task, preprocessed once by ``run_preprocess`` (max length
64); both sides train on the same train split and are scored on the same eval split (the
peer reads the texts and labels from the same TFRecords and tokenizes them itself).

- **bertpipe**: ``run_train`` with its defaults (batch 32, lr 2e-4, warmup 10 % then linear
  decay, AdamW with weight decay 0.01, clipping 1.0, mean pooling, ``bucket_width=16``,
  ``mixed_precision=auto``), once as is and once with ``mixed_precision=float32``. Training
  seconds run from the start of the epoch to the end of its last batch (tracing included,
  the validation pass excluded); accuracy from the saved model on the eval split.
- **Peer**: ``BertForSequenceClassification`` from the same weights, the plain PyTorch loop
  of the transformers docs: shuffled batches of 32 tokenized with ``padding=True`` (dynamic
  padding), ``torch.optim.AdamW`` (weight decay 0.01), ``get_linear_schedule_with_warmup``
  (10 % warmup, the same shape), clipping 1.0, float32 (its default), ``torch.set_num_threads``
  = the cores. Learning rate 5e-5 for full fine-tuning (the docs' value) and 1e-4 for
  ``last:2`` (a frozen bottom trains its few layers with a larger step). ``last:2`` freezes
  the embeddings and blocks 0-3 (``requires_grad=False``). Training seconds include
  tokenization; no validation.

Every run is its own fresh Python process (the peer's without TensorFlow loaded), and the
runs alternate between the two sides so that drift on a noisy machine hits both alike.

    .venv/bin/python benchmarks/train.py --real
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import components  # noqa: E402,F401
from components.config import DataConfig, TrainConfig  # noqa: E402
from components.contracts import PreparedExamples, example_feature_spec  # noqa: E402
from components.encoders.sources import import_encoder, resolve_hf_folder  # noqa: E402

MAX_LEN, BATCH, EPOCHS, LAYERS = 64, 32, 1, 6
FROZEN_BLOCKS = {"last:2": 4, "none": 0}
HF_LR = {"last:2": 1e-4, "none": 5e-5}


def read_split(examples: PreparedExamples, split: str) -> tuple[list[str], np.ndarray]:
    """Texts and label indices of a preprocessed split, in file order."""
    import tensorflow as tf

    spec = example_feature_spec(examples.max_seq_length, with_texts=True)
    files = sorted(tf.io.gfile.glob(examples.pattern(split)))
    texts, labels = [], []
    ds = tf.data.TFRecordDataset(files, compression_type=examples.compression or "").batch(512)
    for batch in ds.map(lambda s: tf.io.parse_example(s, spec)):
        texts += [t.decode("utf-8") for t in batch["text"].numpy()]
        labels.append(batch["label"].numpy()[:, 0])
    return texts, np.concatenate(labels)


def bertpipe_run(encoder_dir: str, prep_dir: str, out: str, freeze: str,
                 precision: str, seed: int) -> dict:
    from components.evaluate.evaluator import predict_split
    from components.keras import keras
    from components.model.classifier import load_classifier
    from components.train.trainer import run_train

    class EpochTimer(keras.callbacks.Callback):
        """Start of the epoch to the end of its last training batch (before validation)."""

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.end, self.steps = time.perf_counter(), batch + 1

    timer = EpochTimer()
    cfg = TrainConfig(freeze=freeze, epochs=EPOCHS, batch_size=BATCH, mixed_precision=precision,
                      seed=seed)
    result = run_train(cfg, encoder_dir, prep_dir, out, verbose=0, callbacks=[timer])
    examples = PreparedExamples.load(prep_dir)
    pred = predict_split(load_classifier(result.model_dir), examples.pattern("eval"),
                         examples.max_seq_length, examples.compression)
    secs = timer.end - timer.start
    return {"side": "bertpipe", "freeze": freeze, "requested": precision, "seed": seed,
            "precision": result.report.precision["policy"],
            "train_s": round(secs, 1), "examples_per_s": round(timer.steps * BATCH / secs, 2),
            "accuracy": round(float((pred.probabilities.argmax(1) == pred.labels).mean()), 4),
            "val_accuracy_in_fit": round(result.history["val_accuracy"][-1], 4)}


def hf_run(data_file: str, hf_folder: str, freeze: str, threads: int, seed: int = 42) -> dict:
    """The peer's loop; ``data_file`` holds the split's texts and labels (written by the
    parent, so that this process never loads TensorFlow)."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    data = json.loads(Path(data_file).read_text())
    texts, labels = data["train_texts"], np.asarray(data["train_labels"])
    eval_texts, eval_labels = data["eval_texts"], np.asarray(data["eval_labels"])
    tokenizer = AutoTokenizer.from_pretrained(hf_folder)
    model = BertForSequenceClassification.from_pretrained(hf_folder,
                                                          num_labels=data["num_labels"])
    frozen = [model.bert.embeddings, *model.bert.encoder.layer[:FROZEN_BLOCKS[freeze]]]
    for module in frozen if FROZEN_BLOCKS[freeze] else []:
        for param in module.parameters():
            param.requires_grad = False
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=HF_LR[freeze], weight_decay=0.01)
    steps = math.ceil(len(texts) / BATCH) * EPOCHS
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    rng = np.random.default_rng(seed)
    model.train()
    start = time.perf_counter()
    for _ in range(EPOCHS):
        order = rng.permutation(len(texts))
        for i in range(0, len(order), BATCH):
            idx = order[i:i + BATCH]
            batch = tokenizer([texts[j] for j in idx], padding=True, truncation=True,
                              max_length=MAX_LEN, return_tensors="pt")
            loss = model(**batch, labels=torch.as_tensor(labels[idx], dtype=torch.long)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
    secs = time.perf_counter() - start
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(eval_texts), 64):
            batch = tokenizer(eval_texts[i:i + 64], padding=True, truncation=True,
                              max_length=MAX_LEN, return_tensors="pt")
            correct += int((model(**batch).logits.argmax(-1).numpy()
                            == eval_labels[i:i + 64]).sum())
    return {"side": "hf", "freeze": freeze, "requested": "float32", "precision": "float32",
            "lr": HF_LR[freeze], "torch": torch.__version__,
            "train_s": round(secs, 1), "examples_per_s": round(len(texts) * EPOCHS / secs, 2),
            "accuracy": round(correct / len(eval_texts), 4)}


def write_peer_data(prep_dir: str, path: str) -> None:
    examples = PreparedExamples.load(prep_dir)
    train_texts, train_labels = read_split(examples, "train")
    eval_texts, eval_labels = read_split(examples, "eval")
    Path(path).write_text(json.dumps({
        "num_labels": examples.num_labels, "train_texts": train_texts,
        "train_labels": train_labels.tolist(), "eval_texts": eval_texts,
        "eval_labels": eval_labels.tolist()}))


def run_in_process(spec: dict) -> dict:
    """One run in a fresh interpreter; its last output line is the run's JSON."""
    proc = subprocess.run([sys.executable, __file__, json.dumps(spec)], capture_output=True,
                          text=True)
    if proc.returncode:
        raise SystemExit(f"run {spec} failed:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child(spec: dict) -> None:
    if spec["side"] == "hf":
        run = hf_run(spec["data_file"], spec["hf_folder"], spec["freeze"], spec["threads"])
    else:
        run = bertpipe_run(spec["encoder_dir"], spec["prep_dir"], spec["out"], spec["freeze"],
                           spec["precision"], spec["seed"])
    print(json.dumps(run), flush=True)


def mean_tokens(prep_dir: str) -> float:
    import tensorflow as tf

    examples = PreparedExamples.load(prep_dir)
    spec = example_feature_spec(examples.max_seq_length)
    files = sorted(tf.io.gfile.glob(examples.pattern("train")))
    ds = tf.data.TFRecordDataset(files, compression_type=examples.compression or "").batch(1024)
    lengths = [tf.reduce_sum(tf.io.parse_example(s, spec)["input_mask"], 1).numpy() for s in ds]
    return float(np.concatenate(lengths).mean())


def main(seeds: int = 1) -> None:
    """``seeds`` > 1 repeats every bertpipe run with further seeds (42, 43, ...): accuracy is
    then the mean over seeds, examples/s the median."""
    from components.preprocess.pipeline import run_preprocess
    from components.train.precision import cpu_bf16_flags

    threads = os.cpu_count() or 1
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bertpipe-real-") as tmp:
        encoder_dir, prep_dir = f"{tmp}/encoder", f"{tmp}/examples"
        import_encoder("minilm-l6", Path(encoder_dir))
        run_preprocess(DataConfig(max_seq_length=MAX_LEN), encoder_dir, prep_dir)
        train_rows = PreparedExamples.load(prep_dir).count("train")
        tokens = mean_tokens(prep_dir)
        print(json.dumps({"train_rows": train_rows, "mean_tokens": round(tokens, 1)}),
              flush=True)
        data_file = f"{tmp}/peer_data.json"
        write_peer_data(prep_dir, data_file)
        for freeze in ("none", "last:2"):
            specs = [{"side": "hf", "data_file": data_file, "threads": threads,
                      "hf_folder": str(resolve_hf_folder("minilm-l6"))}]
            specs += [{"side": "bertpipe", "encoder_dir": encoder_dir, "prep_dir": prep_dir,
                       "out": f"{tmp}/{freeze.replace(':', '')}_{precision}_{seed}",
                       "precision": precision, "seed": seed}
                      for seed in range(42, 42 + seeds) for precision in ("auto", "float32")]
            for spec in specs:
                runs.append(run_in_process({**spec, "freeze": freeze}))
                print(json.dumps(runs[-1]), flush=True)

    def find(side: str, freeze: str, requested: str) -> dict:
        """The run, or over seeds: mean accuracy and median examples/s."""
        found = [r for r in runs if (r["side"], r["freeze"], r["requested"])
                 == (side, freeze, requested)]
        return {**found[0], "accuracy": round(float(np.mean([r["accuracy"] for r in found])), 4),
                "examples_per_s": round(float(np.median([r["examples_per_s"] for r in found])),
                                        2)}

    summary = {"benchmark": "train_real", "machine": f"{platform.machine()}, {threads} cores",
               "cpu_bf16": cpu_bf16_flags(), "train_rows": train_rows,
               "mean_tokens": round(tokens, 1), "max_seq_length": MAX_LEN, "batch": BATCH,
               "epochs": EPOCHS, "threads": threads, "seeds": seeds}
    for freeze, key in (("last:2", "last2"), ("none", "none")):
        hf, auto = find("hf", freeze, "float32"), find("bertpipe", freeze, "auto")
        fp32 = find("bertpipe", freeze, "float32")
        summary.update({
            f"real_ratio_vs_hf_{key}": round(auto["examples_per_s"] / hf["examples_per_s"], 3),
            f"real_fp32_ratio_vs_hf_{key}": round(fp32["examples_per_s"] / hf["examples_per_s"],
                                                  3),
            f"auto_precision_{key}": auto["precision"],
            f"accuracy_{key}": auto["accuracy"], f"hf_accuracy_{key}": hf["accuracy"],
            f"accuracy_fp32_{key}": fp32["accuracy"],
            f"examples_per_s_{key}": auto["examples_per_s"],
            f"fp32_examples_per_s_{key}": fp32["examples_per_s"],
            f"hf_examples_per_s_{key}": hf["examples_per_s"],
        })
    for key in ("last2", "none"):  # in points, signed: negative = auto is less accurate
        summary[f"accuracy_auto_minus_fp32_{key}"] = round(
            100 * (summary[f"accuracy_{key}"] - summary[f"accuracy_fp32_{key}"]), 2)
    summary["accuracy_auto_minus_fp32"] = max(  # the larger change of the two
        (summary["accuracy_auto_minus_fp32_last2"], summary["accuracy_auto_minus_fp32_none"]),
        key=abs)
    summary["runs"] = runs
    print(json.dumps(summary))


if __name__ == "__main__":
    child(json.loads(sys.argv[1]))
