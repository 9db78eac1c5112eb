"""Which files the browser UI may touch: only those under the root folder.

Every path from the browser is resolved (``..`` and symlinks included) and checked to
lie inside the root, so neither ``../../etc/passwd`` nor a symlink pointing out of the
root can be opened.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

#: File suffixes listed as openable videos (anything PyAV decodes can still be opened
#: by typing its path).
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts")


class PathRefused(ValueError):
    """A path that lies outside the root folder (HTTP 403)."""


class PathMissing(LookupError):
    """A path under the root that does not exist (HTTP 404)."""


def resolve_under_root(root: Path, relative: str) -> Path:
    """The real path of ``relative`` (relative to ``root``, or absolute) when it exists
    and lies inside ``root`` after resolving symlinks; PathRefused / PathMissing if not."""
    if "\x00" in relative:
        raise PathRefused(f"path {relative!r} contains a NUL byte")
    root = root.resolve(strict=True)
    candidate = Path(relative.strip() or ".")
    if not candidate.is_absolute():
        candidate = root / candidate
    # refused before the file system is asked, so paths outside reveal nothing
    if not _inside(Path(os.path.normpath(candidate)), root):
        raise PathRefused(f"path {relative!r} is outside the root folder")
    try:
        real = candidate.resolve(strict=True)
    except FileNotFoundError:
        raise PathMissing(f"path {relative!r} does not exist under the root folder") from None
    except (OSError, RuntimeError) as exc:  # symlink loops, permissions
        raise PathRefused(f"path {relative!r} cannot be resolved: {exc}") from None
    if not _inside(real, root):  # a symlink that leads out
        raise PathRefused(f"path {relative!r} is outside the root folder")
    return real


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


@dataclass(frozen=True)
class Entry:
    name: str
    path: str  # relative to the root, with forward slashes
    kind: str  # "dir" | "video" | "frames" (a folder holding JPEG/PNG frames)

    def to_json(self) -> dict:
        return {"name": self.name, "path": self.path, "kind": self.kind}


def list_folder(root: Path, relative: str) -> tuple[str, list[Entry]]:
    """Sub-folders and video files of a folder under the root, folders first.

    Returns the folder's path relative to the root and its entries; entries whose real
    path leaves the root (symlinks) are left out.
    """
    from samvideo.video import IMAGE_SUFFIXES

    root = root.resolve(strict=True)
    folder = resolve_under_root(root, relative)
    if not folder.is_dir():
        raise ValueError(f"path {relative!r} is not a folder")
    entries: list[Entry] = []
    for child in sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower())):
        if child.name.startswith("."):
            continue
        try:
            real = child.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if not _inside(real, root):
            continue
        rel = real.relative_to(root).as_posix()
        if real.is_dir():
            has_frames = any(p.suffix.lower() in IMAGE_SUFFIXES for p in _first(real, 50))
            entries.append(Entry(child.name, rel, "frames" if has_frames else "dir"))
        elif child.suffix.lower() in VIDEO_SUFFIXES:
            entries.append(Entry(child.name, rel, "video"))
    here = "" if folder == root else folder.relative_to(root).as_posix()
    return here, entries


def _first(folder: Path, n: int) -> list[Path]:
    out = []
    for i, p in enumerate(folder.iterdir()):
        if i >= n:
            break
        out.append(p)
    return out


def safe_upload_name(name: str) -> str:
    """A file name for an upload: the last path part, with only ``[A-Za-z0-9._-]``
    kept (ValueError when nothing usable is left)."""
    base = re.split(r"[\\/]", name)[-1]
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip(".")
    if not clean or clean in {"_"}:
        raise ValueError(f"upload name {name!r} has no usable characters")
    return clean[-120:]
