"""Finds credentials baked into an image: a private key, a service-account key, a cloud or
forge token, a credentials file (``.netrc``, ``.git-credentials``, ``~/.aws/credentials``,
``~/.docker/config.json``, gcloud's ``application_default_credentials.json``, ssh keys) in
any file of any layer, or a credential-looking variable in the image's configuration or
build history (a ``--build-arg``'s value is kept there).

Every layer, not the final filesystem: a file a later layer deletes is still in the image.
``scan_image`` reads ``docker save``'s archive (through the Docker API, so podman's socket
works too); ``scan_tree`` reads a folder, which is what the unit tests hand it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import io
import re
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO

# What a secret looks like inside a file: its kind, the literal strings one of which every
# match holds (found with bytes.find, so the regular expression only ever runs on a short
# window around one: a 2.8 GB image is mostly shared libraries), and its expression.
# Public certificates and keys are not secrets; these are private halves and bearer tokens.
PATTERNS = (
    # The header, optional PEM headers (an encrypted key's), then the base64 body: a library's
    # own "-----BEGIN PRIVATE KEY-----" constant or docstring is not a key.
    ("a private key", (b"PRIVATE KEY",),
     rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----\r?\n"
     rb"(?:[A-Za-z-]+: [^\n]*\n)*\r?\n?[A-Za-z0-9+/=]{40,}"),
    ("a service-account key", (b"private_key_id",),
     rb"\"private_key_id\"\s*:\s*\"[0-9a-f]{16,}\""),
    ("an OAuth refresh token", (b"refresh_token",),
     rb"\"refresh_token\"\s*:\s*\"1//[A-Za-z0-9_\-]{20,}\""),
    ("an AWS access key", (b"AKIA", b"ASIA"), rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("an AWS secret key", (b"aws_secret_access_key",),
     rb"aws_secret_access_key\s*=\s*[A-Za-z0-9/+]{40}"),
    ("a Google API key", (b"AIza",), rb"\bAIza[0-9A-Za-z_\-]{35}\b"),
    ("a GitHub token", (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_"),
     rb"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60,})\b"),
    ("a Slack token", (b"xoxa-", b"xoxb-", b"xoxp-", b"xoxr-", b"xoxs-"),
     rb"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
    ("a Hugging Face token", (b"hf_",), rb"\bhf_[A-Za-z0-9]{34}\b"),
)
_COMPILED = tuple((what, anchors, re.compile(regex)) for what, anchors, regex in PATTERNS)
BEFORE, AFTER = 64, 512  # the window around an anchor that its expression searches

# Public test material that ships inside third-party files, by path (fnmatch) and kind.
KNOWN_PUBLIC = (
    # GnuTLS's FIPS self-tests carry their own (GOST) test keys.
    ("*/usr/lib/*-linux-gnu/libgnutls.so*", "a private key"),
)

# Files whose very presence is a credential, wherever they are.
SECRET_NAMES = {".netrc", "_netrc", ".git-credentials", ".pypirc", ".npmrc", ".boto",
                "application_default_credentials.json", "credentials.db", "access_tokens.db",
                "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"}
SECRET_PATHS = (".aws/credentials", ".docker/config.json", ".kube/config",
                ".config/gcloud/credentials.db")

# Variable names that hold credentials. GPG_KEY is the official python image's release
# signing key's fingerprint, which is public.
SECRET_VARIABLE = re.compile(
    r"TOKEN|SECRET|PASSW(?:OR)?D|CREDENTIAL|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|AUTH(?!OR)|_KEY$"
    r"|^KEY$",
    re.IGNORECASE)
PUBLIC_VARIABLES = {"GPG_KEY"}

CHUNK = 8 << 20
OVERLAP = AFTER  # longer than any match above, so one that straddles two chunks is found


@dataclasses.dataclass(frozen=True)
class Finding:
    where: str  # a layer's file, or the image's config
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def scan_content(name: str, stream: IO[bytes]) -> Iterator[Finding]:
    """What ``stream`` holds that looks like a secret (one finding per kind)."""
    seen: set[str] = set()
    tail = b""
    while chunk := stream.read(CHUNK):
        data = tail + chunk
        for what, anchors, regex in _COMPILED:
            if what not in seen and _holds(data, anchors, regex):
                seen.add(what)
                if not any(fnmatch.fnmatchcase(name, path) and what == kind
                           for path, kind in KNOWN_PUBLIC):
                    yield Finding(name, what)
        tail = data[-OVERLAP:]


def _holds(data: bytes, anchors: tuple[bytes, ...], regex: re.Pattern[bytes]) -> bool:
    for anchor in anchors:
        at = data.find(anchor)
        while at != -1:
            for match in regex.finditer(data, max(0, at - BEFORE), at + AFTER):
                if len(set(match.group())) >= 12:  # not a placeholder (ghp_xxxxxxxx...)
                    return True
            at = data.find(anchor, at + 1)
    return False


def secret_name(path: str) -> str | None:
    """Why a file's path alone makes it a credential, or None."""
    posix = PurePosixPath(path)
    if posix.name in SECRET_NAMES:
        return f"a credentials file ({posix.name})"
    for suffix in SECRET_PATHS:
        if str(posix).endswith("/" + suffix) or str(posix) == suffix:
            return f"a credentials file ({suffix})"
    return None


def scan_tar(name: str, archive: tarfile.TarFile) -> Iterator[Finding]:
    """Every file of one layer (a tar archive, read as a stream)."""
    for member in archive:
        path = f"{name}:/{member.name.removeprefix('./')}"
        if (reason := secret_name(member.name)) is not None:
            yield Finding(path, reason)
        if member.isfile():
            stream = archive.extractfile(member)
            if stream is not None:
                yield from scan_content(path, stream)


def scan_tree(root: Path) -> list[Finding]:
    """Every file under ``root`` (links not followed)."""
    findings: list[Finding] = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if (reason := secret_name(relative)) is not None:
            findings.append(Finding(relative, reason))
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                findings.extend(scan_content(relative, f))
    return findings


def scan_config(config: dict, history: Iterable[dict] = ()) -> list[Finding]:
    """Credential-looking variables in the image's Env and labels, a secret's shape in any of
    their values, and credential-looking build arguments in its history (``|2 A=1 B=2 ...``)."""
    findings: list[Finding] = []
    pairs = [("Env", *item.partition("=")[::2]) for item in config.get("Env") or []]
    pairs += [("label", k, v) for k, v in (config.get("Labels") or {}).items()]
    for step in history:
        created_by = step.get("CreatedBy") or step.get("created_by") or ""
        if match := re.match(r"\|\d+ ((?:\S+=\S*\s+)+)", created_by):
            pairs += [("build arg", *arg.partition("=")[::2]) for arg in match.group(1).split()]
        pairs.append(("history", "", created_by))
    for kind, key, value in pairs:
        if key and key not in PUBLIC_VARIABLES and SECRET_VARIABLE.search(key) and value:
            findings.append(Finding(f"config {kind}", f"{key} is set"))
        findings.extend(Finding(f"config {kind} {key}".rstrip(), f.what)
                        for f in scan_content(key, io.BytesIO(value.encode())))
    return findings


def scan_image(client, image: str) -> list[Finding]:
    """Every layer's files (``docker save``, streamed) and the image's config and history."""
    found = client.images.get(image)
    findings = scan_config(found.attrs.get("Config") or {}, found.history())
    raw = io.BufferedReader(_Chunks(found.save(chunk_size=CHUNK)), buffer_size=CHUNK)
    with tarfile.open(fileobj=raw, mode="r|") as saved:
        for member in saved:
            inner = saved.extractfile(member) if member.isfile() else None
            if inner is None:
                continue
            stream = io.BufferedReader(_Chunks(iter(functools.partial(inner.read, CHUNK), b"")),
                                       buffer_size=CHUNK)
            head = stream.peek(512)[:512]
            if head[:2] == b"\x1f\x8b":  # a gzipped layer (an OCI archive may hold them)
                with tarfile.open(fileobj=stream, mode="r|gz") as layer:
                    findings.extend(scan_tar(member.name, layer))
            elif head[257:262] == b"ustar":  # a layer
                with tarfile.open(fileobj=stream, mode="r|") as layer:
                    findings.extend(scan_tar(member.name, layer))
            else:  # manifest.json, the config, an OCI index
                findings.extend(scan_content(member.name, stream))
    return findings


class _Chunks(io.RawIOBase):
    """An iterator of byte chunks (docker-py's ``save()``) as a raw, forward-only file."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = iter(chunks)
        self._left = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._left:
            try:
                self._left = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n
