"""The pieces of `bertpipe run --runner docker` that need no engine: which host paths each
step's container gets, and which line of a failed step's log is its error. The runs themselves
are in tests/image (make test-image)."""

from __future__ import annotations

import json

from components.config import DataConfig, EvalConfig, PipelineConfig
from pipelines.container_run import Mount, _task_root, plan_mounts
from pipelines.run_watch import error_line


def test_mounts_cover_data_encoder_and_outputs(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "enc").mkdir()
    config = PipelineConfig(encoder=str(tmp_path / "enc"),
                            data=DataConfig(data_path=str(tmp_path / "data" / "*.csv")),
                            eval=EvalConfig(blessed_root=str(tmp_path / "blessed")))
    mounts = plan_mounts(config, str(tmp_path / "runs"))
    assert mounts == (Mount(str(tmp_path / "runs"), True), Mount(str(tmp_path / "blessed"), True),
                      Mount(str(tmp_path / "data"), False), Mount(str(tmp_path / "enc"), False))


def test_builtins_and_remote_paths_need_no_mount(tmp_path):
    config = PipelineConfig(eval=EvalConfig(blessed_root="gs://bucket/blessed"))
    assert plan_mounts(config, str(tmp_path)) == (Mount(str(tmp_path), True),)
    remote = PipelineConfig(data=DataConfig(data_path="gs://bucket/reviews/*.csv"))
    assert plan_mounts(remote, str(tmp_path)) == (Mount(str(tmp_path), True),)


def test_a_path_inside_a_mount_is_not_mounted_twice(tmp_path):
    config = PipelineConfig(data=DataConfig(data_path=str(tmp_path / "runs" / "in.csv")))
    assert plan_mounts(config, str(tmp_path / "runs")) == (Mount(str(tmp_path / "runs"), True),)


def test_error_line_is_the_steps_own_line():
    log = ("Running preprocess\nsome progress\npreprocess: error: 3 of 40 rows rejected (7.5% > "
           "0.0%): see /x/dead_letter.jsonl\n")
    assert error_line(log).startswith("preprocess: error: 3 of 40 rows rejected")
    trace = "Traceback (most recent call last):\n  File \"x.py\"\nValueError: bad shard\n"
    assert error_line(trace) == "ValueError: bad shard"
    assert error_line("only this\n\n") == "only this"
    assert error_line("") == "(no output)"


def test_task_root_comes_from_the_executor_input():
    executor_input = {"outputs": {"outputFile": "/r/bertpipe-1/train/executor_output.json"}}
    command = ["sh", "-ec", "...", "--executor_input", json.dumps(executor_input),
               "--function_to_execute", "train"]
    assert str(_task_root(command)) == "/r/bertpipe-1/train"
