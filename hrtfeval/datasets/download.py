"""Downloading database files (stdlib ``urllib``) and checking them against ``SHA256SUMS``.

A file is written to ``<name>.part`` and renamed when complete, so an interrupted download never
leaves a file that looks whole. Progress goes to stderr. Every failure (offline, HTTP error,
short read, checksum mismatch) is an :class:`~hrtfeval.errors.HrtfevalError` naming the file.

The manifest is the format of ``sha256sum``: one ``<64 hex digits>  <path relative to root>``
line per file (a ``*`` before the path, binary mode, is accepted).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from ..errors import HrtfevalError
from ..outputs import ensure_folder

__all__ = [
    "MANIFEST",
    "PART_SUFFIX",
    "download_file",
    "file_url",
    "read_manifest",
    "sha256_file",
    "update_manifest",
    "verify_files",
]

#: The checksum manifest in a dataset's root.
MANIFEST = "SHA256SUMS"
#: Suffix of a file being downloaded.
PART_SUFFIX = ".part"
#: Seconds to wait for the server before giving up on a connection or read.
TIMEOUT_S = 60.0
_CHUNK = 1 << 20
_USER_AGENT = "hrtfeval-datasets (python urllib)"


def file_url(base_url: str, relative_path: str) -> str:
    """The URL of ``relative_path``: ``base_url`` with ``{path}`` / ``{filename}`` filled in,
    or, without placeholders, the quoted path appended to ``base_url``."""
    name = relative_path.rsplit("/", 1)[-1]
    if "{" in base_url:
        return base_url.format(
            path=urllib.parse.quote(relative_path), filename=urllib.parse.quote(name)
        )
    return base_url.rstrip("/") + "/" + urllib.parse.quote(relative_path)


class _Progress:
    """One progress line on stderr: redrawn in place on a terminal, start and end otherwise."""

    def __init__(self, label: str, total: int | None, stream: IO[str] | None = None):
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self._last = 0.0
        if not self.tty:
            size = f" ({_mb(total)})" if total else ""
            self.stream.write(f"downloading {label}{size}\n")
            self.stream.flush()

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.tty and now - self._last > 0.1:
            self._last = now
            self._draw()

    def _draw(self, end: str = "") -> None:
        width = 30
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * width)
            sizes = f"{_mb(self.done)}/{_mb(self.total)}"
            text = f"{self.label} [{bar:<{width}}] {100 * frac:3.0f}% {sizes}"
        else:
            text = f"{self.label} {_mb(self.done)}"
        self.stream.write("\r" + text + end)
        self.stream.flush()

    def close(self, ok: bool) -> None:
        if self.tty:
            self._draw(end="\n" if ok else " failed\n")
        elif ok:
            self.stream.write(f"downloaded {self.label}: {_mb(self.done)} 100%\n")
        self.stream.flush()


def _mb(n: int | None) -> str:
    return f"{(n or 0) / 1e6:.1f} MB"


def download_file(url: str, dest: str | os.PathLike, *, timeout: float = TIMEOUT_S) -> str:
    """Download ``url`` to ``dest`` through ``dest.part``; return the file's SHA-256 (hex).

    Raises
    ------
    HrtfevalError
        No connection (offline, server down), an HTTP error, a short read or a write error;
        the ``.part`` file is removed.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + PART_SUFFIX)
    ensure_folder(dest.parent)
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    progress = None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            progress = _Progress(dest.name, total)
            with open(part, "wb") as out:
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    progress.update(len(chunk))
            if total is not None and progress.done != total:
                raise HrtfevalError(
                    f"download from {url} stopped after {progress.done} of {total} bytes; "
                    "run again to retry",
                    str(dest),
                )
        os.replace(part, dest)
    except urllib.error.HTTPError as exc:
        _fail(part, progress)
        raise HrtfevalError(
            f"cannot download {url}: HTTP {exc.code} {exc.reason}; check download_url or put "
            "the file there by hand",
            str(dest),
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        _fail(part, progress)
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise HrtfevalError(
            f"cannot download {url}: {reason} (offline, or the server is unreachable?); "
            "download the file by hand into this place or set download_url=",
            str(dest),
        ) from None
    except BaseException:
        _fail(part, progress)
        raise
    progress.close(ok=True)
    return digest.hexdigest()


def _fail(part: Path, progress: _Progress | None) -> None:
    if progress is not None:
        progress.close(ok=False)
    try:
        part.unlink()
    except FileNotFoundError:
        pass


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(root: str | os.PathLike) -> dict[str, str] | None:
    """``{relative path: sha256 hex}`` from ``root/SHA256SUMS``, or None when there is none."""
    path = Path(root) / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise HrtfevalError(f"cannot read the checksum manifest: {exc}", str(path)) from None
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        digest, _, name = line.strip().partition(" ")
        name = name.strip()
        if name.startswith("*"):
            name = name[1:]
        if len(digest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digest) or not name:
            raise HrtfevalError(
                f"line {number} is not '<sha256 hex>  <file>': {line.strip()[:80]!r}", str(path)
            )
        sums[name.replace(os.sep, "/")] = digest.lower()
    return sums


def update_manifest(root: str | os.PathLike, sums: dict[str, str]) -> None:
    """Add or replace entries of ``root/SHA256SUMS`` (written atomically, sorted by path)."""
    path = Path(root) / MANIFEST
    entries = read_manifest(root) or {}
    entries.update(sums)
    tmp = path.with_name(path.name + PART_SUFFIX)
    text = "".join(f"{digest}  {name}\n" for name, digest in sorted(entries.items()))
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise HrtfevalError(
            f"cannot write the checksum manifest: {exc.strerror or exc}", str(path)
        ) from None


def verify_files(
    root: str | os.PathLike, relative_paths: Iterable[str], known: dict[str, str] | None = None
) -> list[str]:
    """Check files against ``root/SHA256SUMS``; return the files the manifest does not list.

    ``known`` holds digests already computed (of files just downloaded), to avoid reading
    them twice. Without a manifest every file is returned (none could be checked).

    Raises
    ------
    HrtfevalError
        A file's SHA-256 differs from the manifest's (the message names the file and both
        digests).
    """
    sums = read_manifest(root)
    unlisted = []
    for rel in relative_paths:
        expected = None if sums is None else sums.get(rel)
        if expected is None:
            unlisted.append(rel)
            continue
        actual = (known or {}).get(rel) or sha256_file(Path(root) / rel)
        if actual != expected:
            raise HrtfevalError(
                f"checksum mismatch: SHA-256 is {actual}, but {MANIFEST} says {expected}; the "
                "file is damaged or not the published one (delete it and download it again)",
                str(Path(root) / rel),
            )
    return unlisted
