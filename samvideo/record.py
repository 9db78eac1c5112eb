"""``run.json``: what a run was asked, what it did, with which versions; written
atomically, last, so that ``status: complete`` means every output is whole."""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import os
import platform
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from samvideo import __version__


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON under a temporary name, flush it to disk, then rename it into place."""
    tmp = path.with_name(f".{path.name}.part")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@functools.cache
def versions() -> dict[str, str]:
    """The versions of samvideo, Python and the libraries that decide its results."""
    import av
    import cv2
    import numpy

    found = {"samvideo": __version__, "python": platform.python_version(),
             "numpy": numpy.__version__, "av": av.__version__, "opencv": cv2.__version__}
    # from the package metadata: importing torch would cost a GrabCut run seconds
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        found["torch"] = importlib.metadata.version("torch")
    return found


def settings(value: Any) -> Any:
    """A config dataclass (or a tree of them) as plain JSON data."""
    return asdict(value) if is_dataclass(value) else value


def short_json(value: Any, limit: int = 80) -> str:
    """``value`` as JSON, cut to ``limit`` characters for a one-line message."""
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
