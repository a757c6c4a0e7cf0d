"""``--help`` on every command; ``--config FILE`` (flags win, unknown keys are one line)."""

import subprocess
import sys

import pytest
import yaml

from pipelines.cli import build_parser, main

COMMANDS = ["run", "preprocess", "train", "compile", "submit", "schedule", "runs"]


def test_help_on_the_command():
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for command in COMMANDS:
        assert command in proc.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_on_every_subcommand(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: bertpipe {command}")
    if command in ("compile", "submit", "schedule"):
        assert "--image IMAGE" in out and "--train-gpus" in out and "--config FILE" in out
    if command in ("submit", "schedule", "runs"):
        assert "--host HOST" in out and "--token-file" in out and "--kube-context" in out


def write(path, data) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_config_file_then_flags(tmp_path, capsys):
    config = write(tmp_path / "run.yaml", {
        "data_path": "gs://bucket/reviews/", "text_column": "review", "epochs": 3,
        "learning_rate": 5e-5, "gzip": False, "label_vocab": "neg,pos",
        "cluster": {"image": "reg.example.com/bertpipe:7", "train_gpus": 1,
                    "node_selector": {"cloud.google.com/gke-nodepool": "gpu"},
                    "tolerations": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]}})
    out = tmp_path / "compiled.yaml"
    code = main(["compile", "--config", config, "-o", str(out), "--epochs", "4"])
    assert code == 0, capsys.readouterr().err
    spec, platform = yaml.safe_load_all(out.read_text())
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["epochs"]["defaultValue"] == 4  # the flag wins over the file
    assert params["data_path"]["defaultValue"] == "gs://bucket/reviews/"
    assert params["text_column"]["defaultValue"] == "review"
    assert params["learning_rate"]["defaultValue"] == 5e-5
    assert params["gzip"]["defaultValue"] is False
    assert params["freeze"]["defaultValue"] == "last:2"  # untouched: the dataclass default
    train = spec["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert train["image"] == "reg.example.com/bertpipe:7"
    assert train["resources"]["accelerator"]["resourceCount"] == "1"
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
    assert k8s["nodeSelector"]["labels"] == {"cloud.google.com/gke-nodepool": "gpu"}
    assert k8s["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists",
                                   "effect": "NoSchedule"}]


def test_config_file_values_reach_every_command():
    file = {"epochs": 3, "freeze": "first:4", "cluster": {"retries": 2}}
    from pipelines.config_file import ConfigFile

    parser = build_parser(ConfigFile(parameters={k: v for k, v in file.items() if k != "cluster"},
                                     cluster=file["cluster"]))
    for argv in (["run"], ["compile"], ["submit"], ["schedule", "--cron", "0 0 3 * * *"]):
        args = parser.parse_args(argv)
        assert (args.epochs, args.freeze) == (3, "first:4")
        if argv[0] != "run":
            assert args.retries == 2
    assert parser.parse_args(["submit"]).caching is True
    assert parser.parse_args(["schedule", "--cron", "0 0 3 * * *"]).caching is False


@pytest.mark.parametrize("data, message", [
    ({"epoch": 3}, "unknown key(s): epoch"),
    ({"cluster": {"gpus": 1}}, "unknown cluster setting(s): gpus"),
    ({"epochs": "three"}, "epochs must be int, got 'three'"),
    ({"gzip": "maybe"}, "gzip must be true or false"),
    ({"cluster": {"cpu_request": {"trainer": "4"}}},
     "cluster: cpu_request: unknown step 'trainer'"),
    (["epochs", 3], "must be a mapping of parameter names to values"),
])
def test_bad_config_file_is_one_line_and_exit_2(tmp_path, data, message):
    config = write(tmp_path / "bad.yaml", data)
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "compile", "--config", config,
                           "-o", str(tmp_path / "x.yaml")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"bertpipe: error: config file {config}") and message in lines[0]
    assert not (tmp_path / "x.yaml").exists()


def test_missing_or_broken_config_file(tmp_path, capsys):
    assert main(["run", "--config", str(tmp_path / "none.yaml")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"bertpipe: error: config file {tmp_path / 'none.yaml'} not found")
    broken = tmp_path / "broken.yaml"
    broken.write_text("epochs: [3\n")
    assert main(["compile", "--config", str(broken)]) == 2
    assert "is not valid YAML (line 2)" in capsys.readouterr().err


def test_trainable_blocks_shorthand_on_compile(tmp_path, capsys):
    out = tmp_path / "p.yaml"
    assert main(["compile", "-o", str(out), "--trainable-blocks", "3"]) == 0
    spec = next(yaml.safe_load_all(out.read_text()))
    assert spec["root"]["inputDefinitions"]["parameters"]["freeze"]["defaultValue"] == "last:3"
