"""The whole pipeline end to end through KFP's local runner, as `bertpipe run` does it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from e2e_checks import RUN_ARGS, check_run, write_fixture


@pytest.mark.slow
def test_bertpipe_run_end_to_end(tmp_path):
    data = write_fixture(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--pipeline-root", str(tmp_path / "runs"),
         "--data-path", str(data), *RUN_ARGS, "--blessed-root", str(tmp_path / "blessed")],
        capture_output=True, text=True, timeout=900)
    check_run(proc, tmp_path / "blessed")
