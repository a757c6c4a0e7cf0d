"""The secret scan that `make test-image` runs over the image, checked without an image: it
finds each kind of credential it claims to (so the image test can fail), and not the strings
libraries carry (so it passes on a clean image). Fake secrets are assembled at run time, so
no file of the repository looks like one."""

from __future__ import annotations

import base64
import io
import json
import random
import string
import tarfile
from pathlib import Path

import pytest

import secret_scan
from secret_scan import scan_config, scan_image, scan_tree

_rng = random.Random(7)


def _token(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


def _pem(kind: str = "PRIVATE KEY") -> str:
    body = base64.b64encode(_rng.randbytes(300)).decode()
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----\n"


FAKES = {
    "a private key": lambda: _pem(),
    "a service-account key": lambda: json.dumps({
        "type": "service_account", "project_id": "p",
        "private_key_id": _token(40, "0123456789abcdef"), "private_key": _pem(),
        "client_email": "x@p.iam.gserviceaccount.com"}),
    "an AWS access key": lambda: "aws_access_key_id = AKIA" + _token(16, string.ascii_uppercase),
    "a Google API key": lambda: "key=AIza" + _token(35),
    "a GitHub token": lambda: "url = https://ghp_" + _token(36) + "@github.com/x/y",
    "a Hugging Face token": lambda: "HF_TOKEN=hf_" + _token(34),
}


@pytest.mark.parametrize("what", sorted(FAKES))
def test_each_kind_of_secret_in_a_file_is_found(tmp_path, what):
    (tmp_path / "opt" / "app").mkdir(parents=True)
    (tmp_path / "opt" / "app" / "settings.txt").write_text(f"x = 1\n{FAKES[what]()}\n")
    assert [str(f) for f in scan_tree(tmp_path)] == [f"opt/app/settings.txt: {what}"]


def test_credential_files_are_found_by_name(tmp_path):
    for name in ("home/u/.netrc", "root/.git-credentials", "home/u/.aws/credentials",
                 "home/u/.docker/config.json", "root/.ssh/id_ed25519",
                 "tmp/.config/gcloud/application_default_credentials.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    found = {f.where for f in scan_tree(tmp_path)}
    assert found == {"home/u/.netrc", "root/.git-credentials", "home/u/.aws/credentials",
                     "home/u/.docker/config.json", "root/.ssh/id_ed25519",
                     "tmp/.config/gcloud/application_default_credentials.json"}


def test_what_libraries_carry_is_not_a_secret(tmp_path):
    """PEM markers as constants and docstrings, public certificates, placeholder tokens,
    code that reads a service-account file: what site-packages is full of."""
    (tmp_path / "lib.py").write_text(
        '"""Reads a file that has \'-----BEGIN RSA PRIVATE KEY-----\' markers."""\n'
        'HEADER = b"-----BEGIN PRIVATE KEY-----"\n'
        'KEY_REGEX = b"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END"\n'
        'info["private_key_id"] = key_id\n'
        'EXAMPLE = "ghp_' + "x" * 36 + '"\n')
    (tmp_path / "ca.pem").write_text(_pem("CERTIFICATE") + _pem("PUBLIC KEY"))
    assert scan_tree(tmp_path) == []


def test_a_secret_across_two_chunks_is_found(tmp_path, monkeypatch):
    monkeypatch.setattr(secret_scan, "CHUNK", 1024)
    key = _pem()
    (tmp_path / "blob").write_bytes(b"\0" * (1024 - 20) + key.encode() + b"\0" * 3000)
    assert [f.what for f in scan_tree(tmp_path)] == ["a private key"]


def test_credential_variables_and_build_args_are_found():
    config = {"Env": ["PATH=/opt/venv/bin:/usr/bin", "HOME=/tmp", "TF_USE_LEGACY_KERAS=1",
                      "GPG_KEY=7169605F62C751356D054A26A821E680E5FA6305",  # python image's
                      "GOOGLE_APPLICATION_CREDENTIALS=/secrets/key.json", "HF_TOKEN=x"],
              "Labels": {"org.opencontainers.image.title": "bertpipe",
                         "org.opencontainers.image.authors": "bertpipe maintainers"}}
    history = [{"CreatedBy": "|2 TF_EXTRA= GITHUB_TOKEN=abc /bin/sh -c pip install ."},
               {"CreatedBy": "/bin/sh -c #(nop) ENV PIP_NO_CACHE_DIR=1"}]
    found = {str(f) for f in scan_config(config, history)}
    assert found == {"config Env: GOOGLE_APPLICATION_CREDENTIALS is set",
                     "config Env: HF_TOKEN is set", "config build arg: GITHUB_TOKEN is set"}
    # An empty build argument is no secret (the Dockerfile's own TF_EXTRA, a blank token).
    assert scan_config({"Env": ["API_TOKEN="]}, [{"CreatedBy": "|1 TF_EXTRA= sh"}]) == []
    # A secret's shape in any value counts, whatever the variable's name.
    (finding,) = scan_config({"Env": ["EXTRA_INDEX=https://u:ghp_" + _token(36) + "@x"]})
    assert str(finding) == "config Env EXTRA_INDEX: a GitHub token"


class _FakeImage:
    """What scan_image reads from docker-py's Image: config, history, `docker save`."""

    def __init__(self, archive: bytes):
        self.attrs = {"Config": {"Env": ["PATH=/usr/bin"]}}
        self._archive = archive

    def history(self):
        return [{"CreatedBy": "/bin/sh -c #(nop) CMD [\"bertpipe\"]"}]

    def save(self, chunk_size: int):
        for i in range(0, len(self._archive), chunk_size):
            yield self._archive[i:i + chunk_size]


def _tar(files: dict[str, bytes], mode: str = "w") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_every_layer_of_a_saved_image_is_scanned(monkeypatch):
    """A key a later layer deletes is still in the image; gzipped (OCI) layers are read too."""
    monkeypatch.setattr(secret_scan, "CHUNK", 4096)  # many chunks through the stream
    key = _pem().encode()
    archive = _tar({
        "manifest.json": b'[{"Layers": ["a/layer.tar", "b/layer.tar", "c"]}]',
        "a/layer.tar": _tar({"opt/venv/lib/x.py": b"x = 1\n" * 2000, "root/deploy.key": key}),
        "b/layer.tar": _tar({"root/.wh.deploy.key": b""}),  # the later layer's deletion
        "c": _tar({"home/u/.netrc": b"machine x login y password z\n"}, mode="w:gz"),
    })
    client = type("Client", (), {"images": type("Images", (), {
        "get": staticmethod(lambda name: _FakeImage(archive))})()})()
    found = {str(f) for f in scan_image(client, "any")}
    assert found == {"a/layer.tar:/root/deploy.key: a private key",
                     "c:/home/u/.netrc: a credentials file (.netrc)"}


def test_a_clean_tree_with_this_repositorys_sources_has_none():
    """The sources the image is built from (components/, pipelines/) hold no secret."""
    root = Path(__file__).resolve().parents[2]
    for folder in ("components", "pipelines"):
        assert scan_tree(root / folder) == [], folder
