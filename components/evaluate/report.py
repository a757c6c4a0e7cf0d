"""The evaluation as one self-contained HTML page (the KFP ``HTML`` artifact) and a short
Markdown summary (the KFP ``Markdown`` artifact).

Charts are drawn by matplotlib and inlined as SVG with text as paths, and the styles are
inline too: the page loads nothing from the network, so it renders the same in the Kubeflow
UI's sandboxed iframe, from a bucket, or from a laptop's disk.
"""

from __future__ import annotations

import html
import io
import re
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)

from components.contracts import Evaluation  # noqa: E402

CONFUSION_CMAP = "Blues"
COLORS = {"train": "#1f77b4", "val": "#ff7f0e", "roc": "#d62728", "pr": "#9467bd",
          "chance": "#999999", "frozen": "#b0b0b0", "trainable": "#2ca02c"}
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:16px 24px}
h1{font-size:22px;margin:8px 0}h2{font-size:17px;margin:22px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:4px 0 8px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f0f0f0}td.l,th.l{text-align:left}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:12px}
.card{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:8px}
.card svg{width:100%;height:auto;max-height:360px}
.banner{padding:10px 14px;border-radius:6px;font-weight:600;margin:8px 0}
.ok{background:#e6f4ea;color:#1e6b34;border:1px solid #9bd3ab}
.no{background:#fdecea;color:#8a1c12;border:1px solid #f1a9a0}
.muted{color:#666;font-size:12px}
"""


def _svg(fig) -> str:
    buf = io.StringIO()
    with plt.rc_context({"svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    # The RDF metadata block names web URLs (licence, creator): not needed, not wanted.
    return re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)


def _figure(width: float = 4.6, height: float = 3.4):
    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    ax.grid(alpha=0.3)
    return fig, ax


def training_curves_svg(history: dict[str, list[float]]) -> list[str]:
    """Loss and each metric per epoch, train against validation."""
    charts = []
    for name in [k for k in history if not k.startswith("val_")]:
        if name in ("learning_rate", "steps_per_s", "examples_per_s") or f"val_{name}" not in history:
            continue
        fig, ax = _figure()
        epochs = range(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], "o-", color=COLORS["train"], label=f"train {name}")
        ax.plot(epochs, history[f"val_{name}"], "s-", color=COLORS["val"], label=f"eval {name}")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.set_xticks(list(epochs))
        ax.legend()
        charts.append(_svg(fig))
    return charts


def confusion_matrix_svg(labels: list[str], matrix: list[list[int]]) -> str:
    size = max(3.6, 0.6 * len(labels) + 2.4)
    fig, ax = plt.subplots(figsize=(size, size * 0.85), dpi=100)
    image = ax.imshow(matrix, cmap=CONFUSION_CMAP, vmin=0)
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=11,
                    color="white" if count > peak / 2 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 4 else 0)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (eval)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _svg(fig)


def roc_svg(roc: dict[str, Any]) -> str:
    fig, ax = _figure()
    ax.plot(roc["fpr"], roc["tpr"], color=COLORS["roc"], lw=2.5, label=f"AUC {roc['auc']:.3f}")
    ax.plot([0, 1], [0, 1], "--", color=COLORS["chance"], lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC (positive: {roc['positive_label']})")
    ax.legend(loc="lower right")
    return _svg(fig)


def pr_svg(pr: dict[str, Any]) -> str:
    fig, ax = _figure()
    ax.plot(pr["recall"], pr["precision"], color=COLORS["pr"], lw=2.5,
            label=f"AP {pr['auc']:.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"precision-recall (positive: {pr['positive_label']})")
    ax.legend(loc="lower left")
    return _svg(fig)


def freeze_svg(table: list[dict[str, Any]]) -> str:
    """Parameters per block, frozen vs trainable, bottom block at the bottom."""
    fig, ax = plt.subplots(figsize=(4.6, 0.32 * len(table) + 1.2), dpi=100)
    names = [row["block"] for row in table]
    trainable = [row["trainable_params"] / 1e6 for row in table]
    frozen = [(row["params"] - row["trainable_params"]) / 1e6 for row in table]
    ax.barh(names, trainable, color=COLORS["trainable"], label="trainable")
    ax.barh(names, frozen, left=trainable, color=COLORS["frozen"], label="frozen")
    ax.set_xlabel("parameters (millions)")
    ax.set_title("freezing")
    ax.legend(loc="lower right")
    return _svg(fig)


def _table(header: list[str], rows: list[list[Any]], left: int = 1) -> str:
    def cell(tag: str, i: int, value: Any) -> str:
        if isinstance(value, float):
            value = f"{value:.4f}"
        elif isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:,}"
        cls = ' class="l"' if i < left else ""
        return f"<{tag}{cls}>{html.escape(str(value))}</{tag}>"
    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"




def _headline_rows(result: Evaluation) -> list[list[Any]]:
    return [[split] + [m.get(k, "") for k in Evaluation.HEADLINE]
            for split, m in result.splits.items()]


def _blessing_html(result: Evaluation) -> str:
    blessing = result.blessing
    if not blessing:
        return ""
    cls = "ok" if blessing.blessed else "no"
    return f'<div class="banner {cls}">{html.escape(blessing.reason)}</div>'


def _data_html(data: dict[str, Any]) -> str:
    splits = data.get("splits") or {}
    labels = sorted({label for s in splits.values() for label in s.get("per_label", {})})
    rows = [[name, s["count"], *[s["per_label"].get(label, 0) for label in labels]]
            for name, s in splits.items()]
    parts = [_table(["split", "rows", *labels], rows)]
    stats = data.get("stats") or {}
    if stats:
        parts.append(_table(["split", "mean length", "max length", "truncated", "[UNK] rate"],
                            [[s, v["mean_length"], v["max_length"], v["truncation_rate"],
                              v["unk_rate"]] for s, v in stats.items()]))
    dead = data.get("dead_letter") or {}
    parts.append(f'<p class="muted">rows read: {data.get("rows_read", "?")}; rejected '
                 f'(dead letters): {dead.get("count", 0)} in {html.escape(str(dead.get("path", "")))}'
                 f'; max_seq_length {data.get("max_seq_length")}</p>')
    return "".join(parts)


def _freeze_html(training: dict[str, Any]) -> str:
    table = training.get("table") or []
    if not table:
        return "<p>no freezing table in the training report</p>"
    trainable, total = training.get("trainable_params") or 0, training.get("total_params") or 1
    rows = [[r["block"], r["status"], r["params"], r["trainable_params"]] for r in table]
    return (f'<div class="grid"><div class="card">'
            f'<p>freeze spec <code>{html.escape(str(training.get("freeze")))}</code>: '
            f'<b>{trainable:,}</b> of {total:,} parameters trainable '
            f'(<b>{100.0 * trainable / max(total, 1):.1f}%</b>)</p>'
            f'{_table(["block", "status", "params", "trainable"], rows, left=2)}'
            f'{_decisions_html(training.get("freeze_decisions") or [])}</div>'
            f'<div class="card">{freeze_svg(table)}</div></div>')


def _decisions_html(decisions: list[dict[str, Any]]) -> str:
    """``freeze: auto``'s decisions: when each block froze and the signal that said so."""
    if not decisions:
        return ""
    rows = [[d["step"], d["epoch"], d["block"], d["signal"], f'{100 * d["value"]:.2f}%',
             f'{100 * d["threshold"]:.2f}%'] for d in decisions]
    return ('<p><code>auto</code> froze these blocks during training (<code>frozen@STEP</code> '
            'above; their weights stayed fixed from that step on):</p>'
            + _table(["step", "epoch", "block", "signal", "value", "threshold"], rows, left=4))


def report_html(result: Evaluation, title: str = "bertpipe evaluation") -> str:
    """The whole report page as a string."""
    ev = result.eval_metrics
    sections = [f"<h1>{html.escape(title)}</h1>", _blessing_html(result),
                _table(["split", *Evaluation.HEADLINE], _headline_rows(result))]
    charts = [confusion_matrix_svg(ev["confusion_matrix"]["labels"],
                                   ev["confusion_matrix"]["matrix"])]
    if "roc" in ev:
        charts += [roc_svg(ev["roc"]), pr_svg(ev["pr"])]
    sections.append('<h2 id="evaluation">Eval split</h2><div class="grid">'
                    + "".join(f'<div class="card">{c}</div>' for c in charts) + "</div>")
    per_class = [[label, v["precision"], v["recall"], v["f1"], v["support"]]
                 for label, v in ev["per_class"].items()]
    sections.append(_table(["label", "precision", "recall", "f1", "support"], per_class))
    for split, sliced in result.slices.items():
        rows = [[value or "(empty)", v["examples"], v["accuracy"], v["macro_f1"], v["log_loss"]]
                for value, v in list(sliced["values"].items())[:50]]
        sections.append(f"<h2>Slices of {split} by {html.escape(sliced['column'])}</h2>"
                        + _table(["value", "examples", "accuracy", "macro_f1", "log_loss"], rows))
    curves = training_curves_svg(result.history)
    if curves:
        sections.append('<h2 id="training">Training</h2><div class="grid">'
                        + "".join(f'<div class="card">{c}</div>' for c in curves) + "</div>")
    sections.append('<h2 id="freezing">Frozen layers</h2>'
                    + _freeze_html(result.training))
    sections.append('<h2 id="data">Data</h2>' + _data_html(result.data))
    mistakes = result.mistakes
    if mistakes:
        rows = [[m["text"] + (f"  ‖  {m['text_pair']}" if m.get("text_pair") else ""),
                 m["true"], m["predicted"], m["probability"]] for m in mistakes]
        sections.append('<h2 id="mistakes">Most confident mistakes (eval)</h2>'
                        + _table(["text", "true", "predicted", "probability"], rows))
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body><main>"
            + "".join(sections) + "</main></body></html>")


def write_report(result: Evaluation, path: str) -> str:
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "w") as f:
        f.write(report_html(result))
    return path


def markdown_summary(result: Evaluation) -> str:
    """A few lines for the KFP Markdown visualisation and for pasting into a ticket."""
    lines = ["# bertpipe evaluation", ""]
    if result.blessing:
        lines += [f"**{result.blessing.reason}**", ""]
    lines += ["| split | " + " | ".join(Evaluation.HEADLINE) + " |",
              "|---|" + "---:|" * len(Evaluation.HEADLINE)]
    for row in _headline_rows(result):
        lines.append("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v)
                                       for v in row) + " |")
    training = result.training
    if training.get("total_params"):
        share = 100.0 * (training.get("trainable_params") or 0) / training["total_params"]
        lines += ["", f"Freezing `{training.get('freeze')}`: {training['trainable_params']:,} of "
                      f"{training['total_params']:,} parameters trainable ({share:.1f}%)."]
    if training.get("freeze_decisions"):
        lines.append("Frozen during training: " + ", ".join(
            f"{d['block']} at step {d['step']}" for d in training["freeze_decisions"]) + ".")
    data = result.data
    if data.get("splits"):
        counts = ", ".join(f"{s} {v['count']:,}" for s, v in data["splits"].items())
        lines += [f"Rows: {counts}; rejected {(data.get('dead_letter') or {}).get('count', 0)}."]
    return "\n".join(lines) + "\n"


def write_markdown(result: Evaluation, path: str) -> str:
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "w") as f:
        f.write(markdown_summary(result))
    return path
