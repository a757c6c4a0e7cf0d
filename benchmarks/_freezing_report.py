"""Tables, plot and summary of ``benchmarks/freezing.py``, from its JSON-lines results alone
(so ``--report-only`` can re-render them). No TensorFlow, no torch."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

LAYERS = 6
BEGIN, END = "<!-- freezing:begin -->", "<!-- freezing:end -->"
SIDES = {"bertpipe": "bertpipe", "hf": "HF peer"}


def theory(frozen_blocks: float, layers: int = LAYERS) -> float:
    """Step time over full fine-tuning's with ``frozen_blocks`` of ``layers`` frozen: a frozen
    block costs its forward pass (1), a trainable one forward and backward (1 + 2)."""
    return (frozen_blocks + 3 * (layers - frozen_blocks)) / (3 * layers)


def mode_order(mode: str) -> tuple:
    """none, last:6 ... last:0, then anything else (auto) in name order."""
    if mode == "none":
        return (0, 0, mode)
    match = re.fullmatch(r"last:(\d+)", mode)
    if match:
        return (1, -int(match.group(1)), mode)
    return (2, 0, mode)


# Times vary with the machine, not the seed: on this shared 2-core VM, over its first 50 steps
# (before any freeze) ``auto`` on Rotten Tomatoes ran 15-21 % faster than ``none`` on the same
# batches with two seeds, and at ``none``'s pace with the third. So the timing figures are medians over the seeds (the house rule for noisy
# machines), shown with their range; accuracy, which the seed does move, is a mean ± sd.
TIME_KEYS = ("examples_per_s", "step_s", "median_step_s", "train_s")


def _stats(values: list[float]) -> tuple[float, float]:
    """Mean and spread: the standard deviation over seeds (ddof 0: half the difference of
    two seeds)."""
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std())


def summarize(runs: list[dict]) -> dict[str, dict[tuple[str, str], dict]]:
    """Per task, per (side, mode): the successful runs' means and spreads (``TIME_KEYS``:
    medians and ranges)."""
    out: dict[str, dict[tuple[str, str], dict]] = {}
    for run in runs:
        if run.get("status") != "ok":
            continue
        out.setdefault(run["task"], {}).setdefault((run["side"], run["mode"]), {"runs": []})[
            "runs"].append(run)
    for groups in out.values():
        for entry in groups.values():
            found = entry["runs"]
            for key in ("accuracy", "macro_f1", "examples_per_s", "step_s", "median_step_s",
                        "train_s",
                        "peak_rss_mb", "trainable_params", "trainable_blocks",
                        "mean_trainable_blocks"):
                values = [r[key] for r in found if r.get(key) is not None]
                if values:
                    entry[key], entry[key + "_spread"] = _stats(values)
                if values and key in TIME_KEYS:
                    entry[key] = float(np.median(values))
                    entry[key + "_range"] = (min(values), max(values))
            entry["seeds"] = sorted(r["seed"] for r in found)
            entry["epochs"] = found[0]["epochs"]
            entry["epoch_s"] = entry["train_s"] / entry["epochs"]
            entry["final_blocks"] = [r["trainable_blocks"] for r in found]
            entry["embeddings_trainable"] = found[0].get("embeddings_trainable")
        none = groups.get(("bertpipe", "none"))
        for (side, mode), entry in groups.items():
            if none and side == "bertpipe":
                # A static depth's median step (tracing and noisy steps left out) where the
                # runs recorded it; auto's depth changes, so its mean step.
                key = ("median_step_s" if mode != "auto" and "median_step_s" in entry
                       and "median_step_s" in none else "step_s")
                entry["step_ratio"] = entry[key] / none[key]
            frozen = LAYERS - entry.get("mean_trainable_blocks", entry["trainable_blocks"])
            entry["theory"] = theory(frozen)
    return out


def _fmt(entry: dict, key: str, digits: int = 4, scale: float = 1.0) -> str:
    if key not in entry:
        return ""
    mean, spread = entry[key] * scale, entry.get(key + "_spread", 0.0) * scale
    if len(entry["runs"]) > 1 and key + "_range" in entry:
        low, high = (v * scale for v in entry[key + "_range"])
        return f"{mean:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"
    if len(entry["runs"]) > 1:
        return f"{mean:.{digits}f} ± {spread:.{digits}f}"
    return f"{mean:.{digits}f}"


def _blocks(entry: dict, mode: str) -> str:
    finals = sorted(set(entry["final_blocks"]))
    text = "/".join(str(b) for b in finals)
    if mode == "auto" or len(finals) > 1:
        text = f"{text} (mean over training {entry.get('mean_trainable_blocks', 0):.1f})"
    return text + (" + emb." if entry.get("embeddings_trainable") else "")


def _params(entry: dict) -> str:
    """Trainable parameters at the end (``auto``: from the start's, when they differ)."""
    first = entry["runs"][0]
    start, end = first.get("trainable_params_at_start"), entry["trainable_params"]
    if start is not None and start != end:
        return f"{start:,.0f} → {end:,.0f}"
    return f"{end:,.0f}"


def task_table(groups: dict[tuple[str, str], dict]) -> list[str]:
    lines = ["| run | freeze | trainable blocks | trainable params | seeds | accuracy | macro F1 "
             "| train examples/s | step / `none` | theory | s / epoch | peak RSS (MB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    order = sorted(groups, key=lambda k: (k[0] != "bertpipe", mode_order(k[1])))
    for side, mode in order:
        e = groups[(side, mode)]
        ratio = f"{e['step_ratio']:.3f}" if "step_ratio" in e else ""
        theory_text = f"{e['theory']:.3f}" if side == "bertpipe" else ""
        lines.append(
            f"| {SIDES[side]} | `{mode}` | {_blocks(e, mode)} | {_params(e)} "
            f"| {len(e['seeds'])} | {_fmt(e, 'accuracy')} | {_fmt(e, 'macro_f1')} "
            f"| {_fmt(e, 'examples_per_s', 1)} | {ratio} | {theory_text} "
            f"| {e['epoch_s']:.1f} | {e['peak_rss_mb']:,.0f} |")
    return lines


def _by_seed(entry: dict, key: str) -> list[float]:
    return [round(r[key], 1) for r in sorted(entry["runs"], key=lambda r: r["seed"])]


def task_summary(groups: dict[tuple[str, str], dict]) -> dict:
    """The figures the last line reports for one task (None where a run is missing)."""
    none, auto = groups.get(("bertpipe", "none")), groups.get(("bertpipe", "auto"))
    hf = groups.get(("hf", "none"))
    out: dict = {"auto_speedup": None, "auto_accuracy_loss": None,
                 "auto_final_trainable_blocks": None}
    if none and auto:
        finals = auto["final_blocks"]
        out.update({
            "auto_speedup": round(none["train_s"] / auto["train_s"], 3),
            "auto_accuracy_loss": round(100 * (none["accuracy"] - auto["accuracy"]), 2),
            # The most common final depth over seeds (ties: the shallower).
            "auto_final_trainable_blocks": max(sorted(set(finals)), key=finals.count),
            "auto_final_trainable_blocks_by_seed": finals,
            "auto_train_s": round(auto["train_s"], 1), "accuracy_auto": round(auto["accuracy"], 4),
            "auto_train_s_by_seed": _by_seed(auto, "train_s"),
            "none_train_s_by_seed": _by_seed(none, "train_s"),
        })
    if none:
        out.update({"none_train_s": round(none["train_s"], 1),
                    "accuracy_none": round(none["accuracy"], 4),
                    "macro_f1_none": round(none["macro_f1"], 4),
                    "examples_per_s_none": round(none["examples_per_s"], 2)})
    if none and hf:
        out.update({"hf_accuracy_none": round(hf["accuracy"], 4),
                    "hf_examples_per_s_none": round(hf["examples_per_s"], 2),
                    "accuracy_minus_hf_none": round(100 * (none["accuracy"] - hf["accuracy"]), 2),
                    "examples_per_s_vs_hf_none": round(none["examples_per_s"]
                                                       / hf["examples_per_s"], 3)})
    for (side, mode), e in groups.items():
        if none and side == "hf" and mode.startswith("none@"):  # the peer at its own lr
            out.update({"hf_learning_rate_own": float(mode[5:]),
                        "hf_accuracy_none_own_lr": round(e["accuracy"], 4),
                        "hf_examples_per_s_none_own_lr": round(e["examples_per_s"], 2),
                        "accuracy_minus_hf_none_own_lr":
                            round(100 * (none["accuracy"] - e["accuracy"]), 2)})
        if side == "hf" and mode != "none" and (("bertpipe", mode) in groups):
            mine = groups[("bertpipe", mode)]
            key = mode.replace(":", "")
            out.update({f"hf_accuracy_{key}": round(e["accuracy"], 4),
                        f"accuracy_{key}": round(mine["accuracy"], 4),
                        f"hf_examples_per_s_{key}": round(e["examples_per_s"], 2),
                        f"examples_per_s_{key}": round(mine["examples_per_s"], 2)})
    return out


def majority_accuracy(per_label: dict) -> float | None:
    """The eval accuracy of always answering the most common eval label."""
    counts = per_label.get("eval") or {}
    total = sum(counts.values())
    return max(counts.values()) / total if total else None


def depth_findings(groups: dict[tuple[str, str], dict], majority: float | None) -> dict:
    """How deep to fine-tune, from bertpipe's static depths: each ``last:N``'s accuracy as a
    share of full fine-tuning's (and of its gain over the majority label, which tells a depth
    that learned from one that guessed), its speed-up in time per epoch, and the shallowest
    depth reaching 95 % (and 90 %) of full fine-tuning's accuracy."""
    none = groups.get(("bertpipe", "none"))
    if not none:
        return {}
    rows = []
    for (side, mode), e in sorted(groups.items(), key=lambda kv: mode_order(kv[0][1])):
        if side != "bertpipe" or not (mode == "none" or mode.startswith("last:")):
            continue
        gain = (None if majority is None or none["accuracy"] <= majority
                else (e["accuracy"] - majority) / (none["accuracy"] - majority))
        rows.append({"mode": mode, "accuracy": round(e["accuracy"], 4),
                     "share": round(e["accuracy"] / none["accuracy"], 4),
                     "gain_share": None if gain is None else round(gain, 3),
                     "speedup": round(none["epoch_s"] / e["epoch_s"], 3)})

    def shallowest(level: float) -> dict | None:
        ok = [r for r in rows if r["mode"] != "none" and r["share"] >= level]
        return min(ok, key=lambda r: int(r["mode"][5:])) if ok else None

    return {"majority_accuracy": None if majority is None else round(majority, 4),
            "depths": rows, "depth_95": shallowest(0.95), "depth_90": shallowest(0.90)}


def findings_table(task: str, found: dict) -> list[str]:
    lines = [f"`{task}` (majority label: accuracy {found['majority_accuracy']}):", "",
             "| freeze | accuracy | share of `none`'s accuracy | share of `none`'s gain over "
             "the majority label | speed-up (s / epoch) |", "|---|---|---|---|---|"]
    for r in found["depths"]:
        gain = "" if r["gain_share"] is None else f"{r['gain_share']:.0%}"
        lines.append(f"| `{r['mode']}` | {r['accuracy']:.4f} | {r['share']:.1%} | {gain} "
                     f"| {r['speedup']:.2f}× |")
    for level in ("95", "90"):
        best = found.get(f"depth_{level}")
        lines.append("")
        lines.append(f"Shallowest depth at ≥ {level} % of full fine-tuning's accuracy: "
                     + (f"`{best['mode']}` ({best['share']:.1%}, {best['speedup']:.2f}× faster "
                        f"per epoch)." if best else "none of the `last:N` runs."))
    return lines + [""]


def plot(summary: dict[str, dict], path: Path, titles: dict[str, str]) -> None:
    """Accuracy against trainable blocks (left axis) with time per epoch (right axis, bars),
    one panel per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(summary)
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.4 * len(tasks), 4.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        groups = summary[task]
        lasts = sorted((int(m[5:]), e) for (s, m), e in groups.items()
                       if s == "bertpipe" and m.startswith("last:"))
        twin = ax.twinx()
        bars_x = [b for b, _ in lasts] + ([6.35] if ("bertpipe", "none") in groups else [])
        bars_y = [e["epoch_s"] for _, e in lasts]
        if ("bertpipe", "none") in groups:
            bars_y.append(groups[("bertpipe", "none")]["epoch_s"])
        twin.bar(bars_x, bars_y, width=0.3, color="0.85", zorder=0, label="s / epoch (bertpipe)")
        twin.set_ylabel("training seconds per epoch (bars)")
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
        if lasts:
            ax.errorbar([b for b, _ in lasts], [e["accuracy"] for _, e in lasts],
                        yerr=[e.get("accuracy_spread", 0) for _, e in lasts], marker="o",
                        capsize=3, label="bertpipe last:N (embeddings frozen)")
        none = groups.get(("bertpipe", "none"))
        if none:
            ax.errorbar([6.35], [none["accuracy"]], yerr=[none.get("accuracy_spread", 0)],
                        marker="D", color="C0", capsize=3, linestyle="none",
                        label="bertpipe none (+ embeddings)")
        auto = groups.get(("bertpipe", "auto"))
        if auto:
            twin.bar([np.mean(auto["final_blocks"]) - 0.35], [auto["epoch_s"]], width=0.3,
                     color="#f4b6b6", zorder=0, label="s / epoch (auto)")
            ax.errorbar([np.mean(auto["final_blocks"])], [auto["accuracy"]],
                        yerr=[auto.get("accuracy_spread", 0)], marker="*", markersize=14,
                        color="C3", capsize=3, linestyle="none",
                        label=f"bertpipe auto (final depth; {auto['epoch_s']:.0f} s/epoch)")
        for (side, mode), e in sorted(groups.items()):
            if side != "hf":
                continue
            own_lr = mode.startswith("none@")
            x = 6.5 if mode == "none" else 6.65 if own_lr else e["trainable_blocks"] + 0.15
            ax.errorbar([x], [e["accuracy"]], yerr=[e.get("accuracy_spread", 0)],
                        marker="^" if own_lr else "s", markerfacecolor="none",
                        color="C4" if own_lr else "C2", capsize=3, linestyle="none",
                        label="HF peer" if mode == "none"
                        else f"HF peer, lr {mode[5:]}" if own_lr else None)
        ax.set_xticks(range(LAYERS + 1))
        ax.set_xlabel("trainable transformer blocks (of 6; right: + embeddings)")
        ax.set_ylabel("eval accuracy (mean ± spread over seeds)")
        ax.set_title(titles.get(task, task))
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        handles2, labels2 = twin.get_legend_handles_labels()
        ax.legend(handles + handles2, labels + labels2, fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def replace_section(results_md: Path, section: str) -> None:
    """Puts ``section`` between the markers in ``results_md`` (appended when absent), keeping
    everything else as it is."""
    text = results_md.read_text(encoding="utf-8") if results_md.exists() else ""
    block = f"{BEGIN}\n{section.rstrip()}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    results_md.write_text(text, encoding="utf-8")


def load_results(path: Path) -> tuple[dict | None, list[dict]]:
    """(the sweep's header line, its run lines; the last line per run key wins). The
    ``--resume`` lines go into the header's ``resumes``."""
    header, runs, resumes = None, {}, []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if record.get("kind") == "sweep":
            header = record
        elif record.get("kind") == "resume":
            resumes.append(record)
        elif record.get("kind") == "run":
            runs[record["key"]] = record
    if header is not None and resumes:
        header = {**header, "resumes": resumes}
    return header, list(runs.values())


def task_epochs(cfg: dict) -> dict[str, int]:
    """Each task's epochs (older results files hold one number for all)."""
    epochs = cfg["epochs"]
    return dict(epochs) if isinstance(epochs, dict) else {t: epochs for t in cfg["tasks"]}


def _peer_verdict(points: float) -> str:
    """The target holds within a point of the peer, and when bertpipe is ahead by more."""
    if points > 1.0:
        return "yes (ahead)"
    return "yes" if points >= -1.0 else "**no**"


def split_all_seeds_entry(entry: str) -> tuple[str, str, str]:
    """An ``--all-seeds`` entry (``MODE``, ``hf:MODE``, ``TASK/...``) as (task or "", side,
    mode)."""
    task, _, run = entry.rpartition("/")
    return (task, "hf", run[3:]) if run.startswith("hf:") else (task, "bertpipe", run)


def _seeds_text(cfg: dict) -> str:
    seeds = cfg["seeds"]
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    named = []
    for entry in cfg.get("all_seeds", []):
        task, side, mode = split_all_seeds_entry(entry)
        if (task and task not in cfg["tasks"]) or mode not in (
                cfg["peer_modes"] if side == "hf" else cfg["modes"]):
            continue
        text = f"the peer's `{mode}`" if side == "hf" else f"`{mode}`"
        named.append(f"{text} on `{task}`" if task else text)
    return (f"seeds {', '.join(map(str, seeds))} for {', '.join(named)}, seed {seeds[0]} for "
            f"the other runs (the time budget)")


def _peer_precision_text(runs: list[dict]) -> str:
    """What the peer's runs trained in (recorded per run; sweeps before the option: float32)."""
    found = sorted({r.get("precision") or "float32" for r in runs if r.get("side") == "hf"})
    named = {"bfloat16": "bfloat16 autocast (its docs' advice on a CPU with native bfloat16)",
             "float32": "float32"}
    return " and ".join(named.get(p, p) for p in found) or "float32"


def _short(commit: str, width: int = 72) -> str:
    return commit if len(commit) <= width else commit[:width - 1].rstrip() + "…"


def _duration_min(header: dict, runs: list[dict]) -> float | None:
    """The sweep's minutes, from its start to the end of its last run before any resume."""
    import datetime

    resumed = [r["started"] for r in header.get("resumes", [])]
    ends = [r["finished"] for r in runs if r.get("finished")
            and (not resumed or r["finished"] < min(resumed))]
    if not ends:
        return None
    start = datetime.datetime.fromisoformat(header["started"])
    return (datetime.datetime.fromisoformat(max(ends)) - start).total_seconds() / 60


def _resume_lines(header: dict, runs: list[dict]) -> list[str]:
    """One paragraph per ``--resume``: when, at which commit, which runs it redid."""
    resumes = sorted(header.get("resumes", []), key=lambda r: r["started"])
    lines = []
    for i, resume in enumerate(resumes):
        until = resumes[i + 1]["started"] if i + 1 < len(resumes) else "9999"
        redone = [r for r in runs if resume["started"] <= r.get("finished", "") < until]
        if not redone:
            continue
        by_task: dict[str, list[str]] = {}
        for r in redone:
            name = f"{'HF ' if r['side'] == 'hf' else ''}`{r['mode']}` seed {r['seed']}"
            by_task.setdefault(r["task"], []).append(name)
        machine = resume["machine"]
        lines += [
            f"Rerun with `--resume` on {resume['started'][:10]} at commit "
            f"\"{_short(machine['commit'])}\""
            + (" (with uncommitted changes)" if machine.get("dirty_tree") else "")
            + f" on {machine['cores']} cores of \"{machine['cpu']}\" ("
            + ", ".join(machine["bf16_flags"]) + ")"
            + (f", 1-minute load average {resume['loadavg_start'][0]:.2f} at its start"
               if resume.get("loadavg_start") else "") + ": "
            + "; ".join(f"`{t}` " + ", ".join(names) for t, names in by_task.items())
            + ". Every other row is the sweep's.", ""]
    return lines


def markdown(header: dict, summary: dict, final: dict, png_name: str,
             runs: list[dict] | None = None, results_name: str = "") -> str:
    """The RESULTS.md section: machine, command, data, setup, one table per task, the `auto`
    and peer comparisons, the plot and the last line."""
    cfg, machine, data = header["config"], header["machine"], header.get("data", {})
    v = machine["versions"]
    minutes = _duration_min(header, runs or [])
    lines = [
        "## Freezing depth (`benchmarks/freezing.py`)", "",
        f"Machine: {machine['cores']} cores of \"{machine['cpu']}\" ({machine['arch']}"
        + (f", {', '.join(machine['bf16_flags'])}" if machine["bf16_flags"] else "")
        + f"), {machine['ram_gb']} GB RAM, no GPU; Python {machine['python']}, tensorflow "
        f"{v.get('tensorflow')}, tf-keras {v.get('tf-keras')}, apache-beam {v.get('apache-beam')},"
        f" torch {v.get('torch')}, transformers {v.get('transformers')}. Recorded "
        f"{header['started'][:10]} at commit \"{_short(machine['commit'])}\""
        + (" (with uncommitted changes)" if machine.get("dirty_tree") else "")
        + f"; 1-minute load average {header['loadavg_start'][0]:.2f} at the start.", "",
        f"Command: `.venv/bin/python {header['command']}`"
        + (" (`make bench-freezing`)" if header["command"] == "benchmarks/freezing.py" else "")
        + (f"; {minutes:.0f} min from the start of the first run to the end of the last"
           if minutes else "")
        + f". `--report-only` re-renders this section and the plot from `{results_name}`.", "",
        *_resume_lines(header, runs or []),
        "Data: fixed subsets drawn by `benchmarks/_freezing_data.py` (groups in a seeded order,"
        " each on the side the preprocess job's sha256 rule puts it, eval 20 %), preprocessed "
        "once by `run_preprocess`; every run trains and scores on the same TFRecords.", ""]
    for task, sizes in cfg["sizes"].items():
        d = data.get(task, {})
        per = d.get("per_label", {})
        counts = "; ".join(f"{split} " + ", ".join(f"{k} {n:,}" for k, n in sorted(c.items()))
                           for split, c in per.items())
        lines.append(f"- `{task}`: {sizes['train_rows']:,} train / {sizes['eval_rows']:,} eval "
                     f"rows ({counts}), max length {sizes['max_seq_length']}, "
                     f"{d.get('mean_tokens', '?')} real tokens per train example on average.")
    if "vitaminc" in cfg["sizes"]:
        lines.append(
            "  VitaminC rows are BIG-bench's as they are (U+FFFD characters included; the "
            "canary string sits in the file's header, not in the rows), evidence with its "
            "`Title: ` prefix, at most 16 rows per title. all-MiniLM-L6-v2 is a "
            "sentence-embedding fine-tune trained partly on NLI and QQP pairs, which helps a "
            "claim-vs-evidence task: read its accuracy with that in mind.")
    lines += [
        "",
        "Setup: every run of a task the same: "
        + ", ".join(f"{e} epoch{'s' if e > 1 else ''} ({t})" for t, e in task_epochs(cfg).items())
        + f", batch {cfg['batch_size']}, AdamW "
        f"peak lr {cfg['learning_rate']:g}, {cfg['warmup_fraction']:.0%} linear warmup then "
        f"linear decay, weight decay {cfg['weight_decay']:g} (not on LayerNorm or biases), "
        f"clipping {cfg['clip_norm']:g}; {_seeds_text(cfg)}. bertpipe: "
        f"`run_train` with `mixed_precision={cfg['precision']}`, {cfg['pooling']} pooling, "
        f"length buckets of {cfg['bucket_width']}. `last:N` trains the top N blocks (embeddings "
        "frozen; `last:0` = the whole encoder frozen, `last:6` = every block but not the "
        "embeddings), `none` everything, `auto` picks its depth while training. HF peer: "
        "`BertForSequenceClassification` from the same weights, the plain PyTorch loop with "
        "bertpipe's hyper-parameters (the same lr and schedule, not the docs' 5e-5), "
        + _peer_precision_text(runs or [])
        + ", dynamic padding, its own pooler head"
        + ("; runs " + ", ".join(f"`{m}`" for m in cfg["peer_modes"]) if cfg["peer_modes"]
           else "; not run here") + ".",
        "",
        "Columns: accuracy and macro F1 of the saved model on the eval split (mean ± standard "
        "deviation over seeds); timings (examples/s, step, s / epoch, and the seconds "
        "`auto_speedup` divides) are medians over seeds, with their range: the machine, not "
        "the seed, moves them; trainable parameters with the head; train examples/s = "
        "examples over the time spent in training batches (tracing included; validation and "
        "checkpoints not); step / `none` = step time over full fine-tuning's (the median step where the runs "
        "recorded it, else the mean; `auto`: the mean); theory = "
        "(k + 3(L − k)) / 3L with k frozen transformer blocks of L = 6, a frozen block "
        "costing its forward pass (1) and a trainable one forward + backward (1 + 2), "
        "embeddings and head left out (for `auto`: k from its step-weighted mean depth); "
        "s / epoch = the training wall time (Keras `fit` minus its validation passes: tracing, "
        "steps, per-epoch checkpoints and whatever `auto` does included; process start, "
        "encoder load, model save and scoring not) per epoch, which `auto_speedup` compares; "
        "peak RSS of the run's whole process.", ""]
    for task, groups in summary.items():
        lines += [f"### `{task}`", "", *task_table(groups), ""]
    tasks = final["tasks"]
    lines += ["### How deep to fine-tune", ""]
    for task, t in tasks.items():
        if t.get("depth"):
            lines += findings_table(task, t["depth"])
    lines += ["### `auto` against full fine-tuning", "",
              "| task | `none` s (median) | `auto` s (median) | auto_speedup | accuracy `none` | accuracy `auto` "
              "| auto_accuracy_loss (points) | final trainable blocks (by seed) |",
              "|---|---|---|---|---|---|---|---|"]
    for task, t in tasks.items():
        if t.get("auto_speedup") is None:
            lines.append(f"| `{task}` | {t.get('none_train_s', '')} | not run | | "
                         f"{t.get('accuracy_none', '')} | | | |")
            continue
        lines.append(f"| `{task}` | {t['none_train_s']} | {t['auto_train_s']} | "
                     f"**{t['auto_speedup']}** | {t['accuracy_none']} | {t['accuracy_auto']} | "
                     f"**{t['auto_accuracy_loss']}** | {t['auto_final_trainable_blocks']} "
                     f"({', '.join(map(str, t['auto_final_trainable_blocks_by_seed']))}) |")
    lines += ["", "### bertpipe and the HF peer at full depth", "",
              "| task | accuracy bertpipe | accuracy HF | difference (points) | no more than 1 point behind "
              "| examples/s bertpipe | examples/s HF | bertpipe / HF |",
              "|---|---|---|---|---|---|---|---|"]
    for task, t in tasks.items():
        if "hf_accuracy_none" not in t:
            continue
        diff = t["accuracy_minus_hf_none"]
        lines.append(f"| `{task}` | {t['accuracy_none']} | {t['hf_accuracy_none']} | {diff:+.2f} "
                     f"| {_peer_verdict(diff)} | {t['examples_per_s_none']} "
                     f"| {t['hf_examples_per_s_none']} | {t['examples_per_s_vs_hf_none']} |")
        if "hf_accuracy_none_own_lr" in t:
            own = t["accuracy_minus_hf_none_own_lr"]
            lines.append(
                f"| `{task}`, HF at lr {t['hf_learning_rate_own']:g} | {t['accuracy_none']} "
                f"| {t['hf_accuracy_none_own_lr']} | {own:+.2f} "
                f"| {_peer_verdict(own)} | {t['examples_per_s_none']} "
                f"| {t['hf_examples_per_s_none_own_lr']} | "
                f"{t['examples_per_s_none'] / t['hf_examples_per_s_none_own_lr']:.3f} |")
    failed = final.get("failed_runs") or []
    if failed:
        lines += ["", f"Runs that did not complete ({len(failed)}): "
                  + ", ".join(f"`{k}`" for k in failed) + "."]
    lines += ["", f"![accuracy and time per epoch by trainable blocks]({png_name})", "",
              "Last line of the run:", "", "```json", json.dumps(final), "```"]
    return "\n".join(lines)
