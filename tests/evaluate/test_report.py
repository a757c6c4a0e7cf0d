"""The evaluation a person sees: the HTML report rendered by a real headless Chromium, the
Markdown summary and the KFP metric scalars, from a real trained model."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from components.contracts import Evaluation
from components.evaluate.evaluator import run_evaluate
from components.evaluate.kfp_outputs import metric_scalars
from components.evaluate.report import COLORS, markdown_summary, write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Everything that could reach a network is off or pointed at a closed loopback port.
OFFLINE_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                 "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]


@pytest.fixture(scope="module")
def evaluation(trained_tiny, preprocessed_tiny, tmp_path_factory):
    from components.evaluate.blessing import decide

    result = run_evaluate(str(trained_tiny.model_dir).rsplit("/model", 1)[0],
                          preprocessed_tiny.output_dir)
    result = dataclasses.replace(
        result, blessing=decide(result.eval_metrics, "accuracy", 0.5, 0.01, ""))
    out = tmp_path_factory.mktemp("evaluation")
    result.save(str(out))
    return Evaluation.load(str(out))


def test_evaluation_covers_splits_slices_history_and_data(evaluation, preprocessed_tiny):
    ev = evaluation.splits["eval"]
    assert ev["examples"] == preprocessed_tiny.metadata["splits"]["eval"]["count"] >= 200
    for name in ("accuracy", "macro_f1", "weighted_f1", "mcc", "roc_auc", "pr_auc", "log_loss"):
        assert 0.0 <= ev[name] <= (np.inf if name == "log_loss" else 1.0)
    sliced = evaluation.slices["eval"]
    assert sliced["column"] == "source" and set(sliced["values"]) == {"web", "app", "mail"}
    assert sum(v["examples"] for v in sliced["values"].values()) == ev["examples"]
    assert evaluation.history["loss"] and evaluation.training["freeze"] == "last:2"
    assert evaluation.data["splits"]["train"]["count"] > 0
    wrong = ev["examples"] - int(round(ev["accuracy"] * ev["examples"]))
    assert len(evaluation.mistakes) == min(wrong, 20)
    probs = [m["probability"] for m in evaluation.mistakes]
    assert probs == sorted(probs, reverse=True)
    scalars = metric_scalars(evaluation)
    assert scalars["accuracy"] == ev["accuracy"] and scalars["blessed"] == 1.0
    assert {"precision_pos", "recall_neg", "roc_auc", "mcc"} <= set(scalars)


def test_markdown_summary(evaluation):
    text = markdown_summary(evaluation)
    assert text.startswith("# bertpipe evaluation") and "**blessed: accuracy" in text
    assert re.search(r"^\| eval \| \d+ \| \d\.\d{4} \|", text, flags=re.M)


def _pixels_near(image: np.ndarray, hex_color: str, tolerance: int = 12) -> int:
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image[..., :3].astype(int) - rgb).max(axis=-1) <= tolerance).sum())


def test_report_renders_offline_in_headless_chromium(evaluation, tmp_path):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: `make test` installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (make test installs it where apt-get works)")
    from PIL import Image

    page = tmp_path / "report.html"
    write_report(evaluation, str(page))
    html = page.read_text()
    # Self-contained: nothing to fetch (the only URL is the SVG namespace, never fetched).
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and not re.search(r"url\((?!#)", html)  # only local refs
    assert {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"} >= set(
        re.findall(r"https?://[^\s\"'<>)]+", html)) - {""}

    shot = tmp_path / "report.png"
    proc = subprocess.run([CHROMIUM, *OFFLINE_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           "--window-size=1366,2400", f"--screenshot={shot}", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape[:2] == (2400, 1366)
    assert image.std() > 20 and len(np.unique(image.reshape(-1, 3), axis=0)) > 200  # not blank
    # The confusion matrix: its darkest cells are drawn in the Blues colormap's top colour.
    assert _pixels_near(image, "#08306b", tolerance=30) > 1500
    # The curves: ROC, precision-recall, and the train/eval training curves.
    for name in ("roc", "pr", "train", "val"):
        assert _pixels_near(image, COLORS[name]) > 150, name
    # Nothing drawn with a colour the report does not use is counted (the check can fail).
    assert _pixels_near(image, "#ff00ff") == 0


def test_the_runs_report_page_opens_as_a_page_not_as_source(evaluation, tmp_path):
    """The KFP artifact is a file named ``report`` with no extension: opened by URL, Chromium
    shows its source as text. ``bertpipe run`` and ``bertpipe show`` point at the
    ``report.html`` copy beside it, which Chromium renders (its DOM has the SVG elements)."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: `make test` installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (make test installs it where apt-get works)")
    from pipelines.run_records import report_page

    run_dir = tmp_path / "bertpipe-2026-01-01-00-00-00-000000"
    artifact = run_dir / "evaluate" / "report"
    artifact.parent.mkdir(parents=True)
    write_report(evaluation, str(artifact))
    page = report_page(run_dir)
    assert page == artifact.with_name("report.html") and page.read_bytes() == artifact.read_bytes()

    def dom(path) -> str:
        proc = subprocess.run([CHROMIUM, *OFFLINE_FLAGS, f"--user-data-dir={tmp_path / 'p'}",
                               "--dump-dom", path.as_uri()], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    rendered, as_text = dom(page), dom(artifact)
    assert "<svg" in rendered and "&lt;svg" not in rendered
    assert "&lt;svg" in as_text and "<svg" not in as_text  # what the bare artifact gives
