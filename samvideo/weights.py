"""Checkpoints of every family: the cache folder, download with resumption, verification.

The official checkpoints are listed in :data:`CHECKPOINTS`
(:mod:`samvideo.checkpoints`). A checkpoint is
downloaded into the cache folder (:func:`cache_dir`: ``$SAMVIDEO_HOME`` if set, else the
platform's user cache folder for ``samvideo``), from the official URL or from
``<mirror>/<filename>`` when a mirror is given (``$SAMVIDEO_WEIGHTS_MIRROR``).

Files in the cache folder:

- ``<filename>``: a complete checkpoint. A file only ever gets this name once whole and,
  where the publisher gives a checksum (MD5, or MobileSAM's git blob id), after it has
  been checked, so a cheap size check (:func:`cached_path`) is enough to trust it later.
- ``<filename>.part``: the bytes received so far by an interrupted download. The next
  :func:`download` continues it with an HTTP ``Range`` request (or starts over when the
  server does not honour ranges).
- ``tmp*``: pooch's short-lived temporary name, which holds the complete data between the
  end of the transfer and the MD5 check; removed whatever the outcome.

HTTP is done by ``requests`` (through a small pooch downloader, :class:`ResumableDownloader`)
and the hash check and final rename by ``pooch``. Library code never prints: the progress bar
(tqdm) and pooch's "Downloading ..." line go to stderr, and ``progress=False`` silences both.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import platformdirs

from samvideo.checkpoints import CHECKPOINTS, SAM_BASE_URL, Checkpoint

__all__ = [
    "CHECKPOINTS",
    "ENV_HOME",
    "ENV_MIRROR",
    "OFFICIAL_BASE_URL",
    "Checkpoint",
    "ResumableDownloader",
    "VerifyResult",
    "best_cached",
    "cache_dir",
    "cached_path",
    "download",
    "file_md5",
    "get",
    "git_blob_sha1",
    "mirror_url",
    "verify",
]

OFFICIAL_BASE_URL = SAM_BASE_URL
"""Base URL of Meta's official SAM (1) checkpoints."""

ENV_HOME = "SAMVIDEO_HOME"
"""Environment variable naming the cache folder (overrides the platform default)."""

ENV_MIRROR = "SAMVIDEO_WEIGHTS_MIRROR"
"""Environment variable naming a base URL that serves ``<base>/<filename>``."""

PART_SUFFIX = ".part"
"""Suffix of the file that holds an interrupted download."""

HASH_CHUNK_BYTES = 8 * 1024 * 1024
"""Read size when hashing files (multi-GB checkpoints are streamed, never loaded whole)."""

HTTP_CHUNK_BYTES = 64 * 1024
"""Size of the pieces written to disk while downloading. When a connection breaks, the
piece being read is lost (urllib3 raises before handing it over), so it is kept small."""

HTTP_TIMEOUT_S = 60.0
"""Connect and read timeout of each HTTP request, in seconds."""


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`.

    Attributes:
        path: the file checked.
        size: its size in bytes.
        md5: its MD5, 32 lowercase hex digits.
        matches: the registry checkpoint whose size and MD5 the file has, or ``None``.
        ok: ``False`` only when the file is expected to be a given checkpoint (``name``
            passed to :func:`verify`, or the file carries a registry filename) and is not;
            a file that matches no checkpoint and claims to be none is ``ok``.
        message: one line for people, saying what the file is or what is wrong with it.
    """

    path: Path
    size: int
    md5: str
    matches: Checkpoint | None
    ok: bool
    message: str


def _registry(registry: Mapping[str, Checkpoint] | None) -> Mapping[str, Checkpoint]:
    return CHECKPOINTS if registry is None else registry


def cache_dir(*, create: bool = False) -> Path:
    """Return the folder that holds downloaded checkpoints.

    ``$SAMVIDEO_HOME`` (``~`` expanded) when set and not empty, else
    ``platformdirs.user_cache_dir("samvideo")``. Nothing is created unless ``create`` is true
    (:func:`download` creates it); importing this module touches no file.

    Raises:
        RuntimeError: ``create`` is true and the folder cannot be created.
    """
    env = os.environ.get(ENV_HOME, "").strip()
    path = Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("samvideo"))
    if create:
        _make_dir(path)
    return path


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RuntimeError(f"cannot create the checkpoint cache folder {path}: {exc}") from exc


def mirror_url() -> str | None:
    """Return ``$SAMVIDEO_WEIGHTS_MIRROR`` (a base URL; files come from
    ``<mirror>/<filename>``), or ``None`` when it is unset or empty."""
    value = os.environ.get(ENV_MIRROR, "").strip()
    return value or None


def get(name: str, *, registry: Mapping[str, Checkpoint] | None = None) -> Checkpoint:
    """Return the checkpoint called ``name`` (case and surrounding spaces ignored).

    ``registry`` replaces :data:`CHECKPOINTS` (tests use small fake checkpoints).

    Raises:
        ValueError: unknown name; the message lists the known names.
    """
    reg = _registry(registry)
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in reg:
        known = ", ".join(reg)
        raise ValueError(f"unknown checkpoint {name!r}; known checkpoints: {known}")
    return reg[key]


def _resolve_cache(cache: str | os.PathLike[str] | None) -> Path:
    return cache_dir() if cache is None else Path(cache).expanduser()


def cached_path(
    name: str,
    *,
    cache: str | os.PathLike[str] | None = None,
    registry: Mapping[str, Checkpoint] | None = None,
) -> Path | None:
    """Return the cached file of checkpoint ``name``, or ``None`` when it is not there.

    Cheap: the file must exist under its final name in the cache folder (``cache``, default
    :func:`cache_dir`) with the registry's size where it has one; no checksum is computed
    (files reach their final name only once whole and checked; use :func:`verify` for a
    full check). A ``.part`` file does not count.

    Raises:
        ValueError: unknown name.
    """
    ckpt = get(name, registry=registry)
    path = _resolve_cache(cache) / ckpt.filename
    try:
        if path.is_file() and ckpt.size_bytes in (None, path.stat().st_size):
            return path
    except OSError:
        return None
    return None


def best_cached(
    *,
    cache: str | os.PathLike[str] | None = None,
    registry: Mapping[str, Checkpoint] | None = None,
    order: Sequence[str] | None = None,  # names by preference; None: the largest file first
) -> Checkpoint | None:
    """Return the first checkpoint of ``order`` present in the cache folder, or ``None``.

    This is what ``--model auto`` uses (with the order it prefers for the device).
    "Present" is :func:`cached_path`'s cheap test (final filename and size; no checksum);
    without ``order``, the largest file comes first.
    """
    reg = _registry(registry)
    ranked = ([reg[n] for n in order if n in reg] if order is not None
              else sorted(reg.values(), key=lambda c: c.megabytes, reverse=True))
    for ckpt in ranked:
        if cached_path(ckpt.name, cache=cache, registry=reg) is not None:
            return ckpt
    return None


def file_md5(path: str | os.PathLike[str]) -> str:
    """Return the MD5 of the file at ``path`` (lowercase hex), read in 8 MiB chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    _hash_into(digest, Path(path))
    return digest.hexdigest()


def _hash_into(digest: Any, path: Path) -> None:
    buffer = bytearray(HASH_CHUNK_BYTES)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            digest.update(view[:n])


def git_blob_sha1(path: str | os.PathLike[str]) -> str:
    """The git blob id of the file at ``path``: SHA-1 of ``b"blob <size>\\0"`` + its bytes,
    what a git repository's tree names it by (lowercase hex), read in 8 MiB chunks."""
    return _digests(Path(path))[1]


def _digests(path: Path) -> tuple[str, str]:
    """(MD5, git blob SHA-1) of a file, in one pass over it."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha1 = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    buffer = bytearray(HASH_CHUNK_BYTES)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            md5.update(view[:n])
            sha1.update(view[:n])
    return md5.hexdigest(), sha1.hexdigest()


def _is(ckpt: Checkpoint, size: int, md5: str, sha1: str) -> bool:
    """Whether a file of this size and these digests is ``ckpt`` by its published checksum."""
    if ckpt.md5 is not None:
        return ckpt.md5 == md5 and ckpt.size_bytes in (None, size)
    return ckpt.git_sha1 is not None and ckpt.git_sha1 == sha1


def verify(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    registry: Mapping[str, Checkpoint] | None = None,
) -> VerifyResult:
    """Check a checkpoint file's size and checksum against the registry.

    The file is identified by its checksum (MD5 and size, or MobileSAM's git blob id), so a
    renamed copy of an official checkpoint is recognised. It is expected to be checkpoint
    ``name`` when given, else the checkpoint whose filename it carries, if any; ``ok`` is
    false when it is expected to be a checkpoint and is not (truncated, corrupt, or another
    one). A file that claims to be none and matches none is reported as such with ``ok``
    true: that is not an error; so is one that claims to be a checkpoint whose publisher
    gives no checksum (SAM 2.1): there is nothing to check it against. Reading a multi-GB
    file takes seconds (streamed, 8 MiB at a time).

    Raises:
        ValueError: ``path`` is not a file, or ``name`` is unknown.
    """
    reg = _registry(registry)
    expected = get(name, registry=reg) if name is not None else None
    p = Path(path).expanduser()
    if not p.is_file():
        raise ValueError(f"not a file: {str(p)!r}")
    size = p.stat().st_size
    md5, sha1 = _digests(p)
    matches = next((c for c in reg.values() if _is(c, size, md5, sha1)), None)
    claimed = expected or next((c for c in reg.values() if c.filename == p.name), None)

    if claimed is None:
        if matches is not None:
            return VerifyResult(
                p, size, md5, matches, True, f"{p.name} is {matches.name} ({matches.filename})"
            )
        message = f"{p.name} matches no official checkpoint (size {size}, md5 {md5})"
        return VerifyResult(p, size, md5, None, True, message)

    if matches == claimed:
        what = "md5" if claimed.md5 else "git blob id"
        digest = claimed.md5 or claimed.git_sha1
        message = f"{p.name} is {claimed.name}: size and {what} {digest} match"
        return VerifyResult(p, size, md5, matches, True, message)
    if claimed.checksum is None and matches is None:
        message = (f"{p.name}: {claimed.name} has no published checksum to check it against "
                   f"(size {size}, about {claimed.megabytes:.0f} MB expected; md5 {md5})")
        return VerifyResult(p, size, md5, None, True, message)

    if claimed.size_bytes is not None and size < claimed.size_bytes:
        problem = f"is truncated: {size} of {claimed.size_bytes} bytes"
    elif claimed.size_bytes is not None and size > claimed.size_bytes:
        problem = f"is too large: {size} bytes, expected {claimed.size_bytes}"
    elif claimed.md5 is not None:
        problem = f"is corrupt: md5 {md5}, expected {claimed.md5}"
    elif claimed.git_sha1 is not None:
        problem = (f"is corrupt or another file: git blob id {sha1}, expected "
                   f"{claimed.git_sha1} ({size} bytes, about {claimed.megabytes:.1f} MB expected)")
    else:
        problem = "is another official checkpoint"
    message = f"{p.name} is not {claimed.name}: it {problem}"
    if matches is not None:
        message += f"; it is {matches.name} ({matches.filename})"
    elif claimed.size_bytes is not None and size != claimed.size_bytes:
        message += f" (md5 {md5})"
    return VerifyResult(p, size, md5, matches, False, message)


class ChecksumError(ValueError):
    """Downloaded data whose git blob id is not the registry's (MD5s are pooch's to check)."""


class ResumableDownloader:
    """A pooch downloader (``downloader(url, output_file, pooch)``) that can resume.

    Bytes are appended to ``part`` as they arrive, so an interrupted transfer leaves them
    there. When ``part`` already holds data, the request asks for the rest with an HTTP
    ``Range: bytes=<size>-`` header; a server that answers 200 instead of 206 (ranges not
    supported) sends the whole file and the part is rewritten from the start. When the
    transfer is complete, ``part`` is renamed to pooch's ``output_file``, which pooch then
    checks against the known hash and renames to the final name (or deletes).

    Args:
        part: where the partial data is kept (``<cache>/<filename>.part``).
        expected_size: the complete size when known: a part that large is handed over
            without a request, a larger one is discarded.
        progress: show a tqdm bar on stderr.
        timeout: connect and read timeout of the request, in seconds.

    Attributes after a call: ``md5`` (MD5 of the complete data handed to pooch),
    ``resumed_from`` (the byte offset the server continued from; 0 for a full transfer)
    and ``received`` (bytes received by this call).

    Raises (from a call):
        ChecksumError: ``git_sha1`` is given and the data's is another (the part is deleted).
        requests.exceptions.RequestException: HTTP error status, connection failure,
            timeout, or a body shorter than announced (the part is kept for next time).
    """

    def __init__(
        self,
        part: str | os.PathLike[str],
        *,
        expected_size: int | None = None,
        progress: bool = True,
        timeout: float = HTTP_TIMEOUT_S,
        git_sha1: str | None = None,  # the file's git blob id, checked before handing over
    ) -> None:
        self.part = Path(part)
        self.git_sha1 = git_sha1
        self.expected_size = expected_size
        self.progress = progress
        self.timeout = timeout
        self.md5: str | None = None
        self.resumed_from = 0
        self.received = 0

    def __call__(self, url: str, output_file: str | IO[bytes], pooch_obj: object = None) -> None:
        self.md5 = None
        self.resumed_from = 0
        self.received = 0
        offset = self._usable_part_size()
        if self.expected_size is not None and offset == self.expected_size:
            self.md5 = file_md5(self.part)  # complete already: let pooch check it
        else:
            self._fetch(url, offset)
        if self.git_sha1 is not None:
            got = git_blob_sha1(self.part)
            if got != self.git_sha1:
                self.part.unlink()
                raise ChecksumError(f"git blob id {got}, expected {self.git_sha1}")
        if isinstance(output_file, (str, os.PathLike)):
            os.replace(self.part, output_file)
        else:
            with open(self.part, "rb") as src:
                shutil.copyfileobj(src, output_file, HTTP_CHUNK_BYTES)
            self.part.unlink()

    def _usable_part_size(self) -> int:
        try:
            size = self.part.stat().st_size
        except FileNotFoundError:
            return 0
        if self.expected_size is not None and size > self.expected_size:
            self.part.unlink()  # cannot be a prefix of the file
            return 0
        return size

    def _fetch(self, url: str, offset: int) -> None:
        import requests  # lazy: comes with pooch, slow to import

        headers = {"Accept-Encoding": "identity"}  # sizes and ranges refer to raw bytes
        if offset:
            headers["Range"] = f"bytes={offset}-"
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as resp:
            if offset and resp.status_code == 416:
                # The server cannot serve from there: the part is no prefix of its file.
                restart = True
            else:
                restart = False
                resp.raise_for_status()
                if offset and not (resp.status_code == 206 and _range_start(resp) == offset):
                    offset = 0  # ranges not honoured: this is the whole file
                self._write(resp, offset, url)
        if restart:
            self.part.unlink(missing_ok=True)
            self._fetch(url, 0)

    def _write(self, resp: Any, offset: int, url: str) -> None:
        import requests
        from tqdm.auto import tqdm

        length = _int_header(resp, "Content-Length")
        total = offset + length if length is not None else self.expected_size
        digest = hashlib.md5(usedforsecurity=False)
        if offset:
            _hash_into(digest, self.part)
        self.resumed_from = offset
        with (
            open(self.part, "ab" if offset else "wb") as f,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=self.part.name.removesuffix(PART_SUFFIX),
                file=sys.stderr,
                disable=not self.progress,
                leave=False,
            ) as bar,
        ):
            for chunk in resp.iter_content(HTTP_CHUNK_BYTES):
                f.write(chunk)
                digest.update(chunk)
                self.received += len(chunk)
                bar.update(len(chunk))
        if total is not None and offset + self.received != total:
            raise requests.exceptions.ConnectionError(
                f"connection closed after {offset + self.received} of {total} bytes of {url}"
            )
        self.md5 = digest.hexdigest()


def _int_header(resp: Any, header: str) -> int | None:
    value = resp.headers.get(header, "")
    return int(value) if value.strip().isdigit() else None


def _range_start(resp: Any) -> int | None:
    match = re.match(r"\s*bytes\s+(\d+)-", resp.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


@contextmanager
def _pooch_log_level(quiet: bool) -> Iterator[None]:
    """Silence pooch's "Downloading data from ..." line (stderr) when ``quiet``."""
    import pooch

    logger = pooch.get_logger()
    old = logger.level
    if quiet:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(old)


def _source_url(ckpt: Checkpoint, mirror: str | None) -> str:
    base = mirror if mirror is not None else mirror_url()
    if base is None:
        return ckpt.url
    if not re.match(r"https?://", base.strip(), re.IGNORECASE):
        raise ValueError(f"weights mirror must be an http:// or https:// URL, got {base!r}")
    return base.strip().rstrip("/") + "/" + ckpt.filename


def download(
    name: str,
    *,
    mirror: str | None = None,
    progress: bool = True,
    cache: str | os.PathLike[str] | None = None,
    registry: Mapping[str, Checkpoint] | None = None,
) -> Path:
    """Download checkpoint ``name`` into the cache folder, check it, return its path.

    The file comes from ``<mirror>/<filename>`` when ``mirror`` (else
    ``$SAMVIDEO_WEIGHTS_MIRROR``) is set, else from the official URL, into ``cache``
    (default :func:`cache_dir`, created if missing). It is checked against the publisher's
    checksum: the MD5 (by pooch), or the git blob id (MobileSAM); SAM 2.1's publisher
    gives none. When the file is already there, it is checked (seconds for vit_h, no
    network) and returned; a cached file that fails the check is downloaded again. Data
    arrives in ``<filename>.part``; an interrupted download keeps it, and the next call
    continues it with an HTTP Range request. The complete data gets its final name only
    after its checksum has been checked, so a corrupt download never sits under the final
    name. A tqdm bar goes to stderr unless
    ``progress`` is false. ``registry`` replaces :data:`CHECKPOINTS` (for tests).

    Raises:
        ValueError: unknown name, or a mirror that is not an http(s) URL.
        RuntimeError: the download failed (the message names the URL; received bytes are
            kept in the ``.part`` file for the next call), or the MD5 does not match (the
            message names the expected and received MD5 and the URL; the data is deleted),
            or the cache folder cannot be written.
    """
    import pooch
    import requests

    ckpt = get(name, registry=registry)
    url = _source_url(ckpt, mirror)
    folder = _resolve_cache(cache)
    _make_dir(folder)
    part = folder / (ckpt.filename + PART_SUFFIX)
    downloader = ResumableDownloader(part, expected_size=ckpt.size_bytes, progress=progress,
                                     git_sha1=ckpt.git_sha1)
    final = folder / ckpt.filename
    if ckpt.git_sha1 is not None and final.is_file() and git_blob_sha1(final) != ckpt.git_sha1:
        final.unlink()  # pooch checks MD5s only: a bad cached copy is fetched again
    try:
        with _pooch_log_level(quiet=not progress):
            result = pooch.retrieve(
                url,
                known_hash=f"md5:{ckpt.md5}" if ckpt.md5 else None,
                fname=ckpt.filename,
                path=folder,
                downloader=downloader,
            )
    except requests.exceptions.RequestException as exc:
        kept = part.stat().st_size if part.is_file() else 0
        message = f"download of {url} failed: {exc}"
        if kept:
            of = f" of {ckpt.size_bytes}" if ckpt.size_bytes else ""
            message += f"; {kept}{of} bytes kept in {part}, run again to resume"
        raise RuntimeError(message) from exc
    except ChecksumError as exc:
        raise RuntimeError(f"checksum mismatch for {ckpt.filename} from {url}: {exc}; the "
                           "downloaded data was deleted") from exc
    except ValueError as exc:  # pooch's hash check; it has deleted the data already
        if downloader.md5 is None or downloader.md5 == ckpt.md5:
            raise RuntimeError(f"download of {url} failed: {exc}") from exc
        raise RuntimeError(
            f"MD5 mismatch for {ckpt.filename} from {url}: expected {ckpt.md5}, "
            f"got {downloader.md5}; the downloaded data was deleted"
        ) from exc
    except OSError as exc:
        raise RuntimeError(f"download of {url} into {folder} failed: {exc}") from exc
    return Path(result)
