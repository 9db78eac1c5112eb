"""What the page says when something is wrong with the user's file, in the user's words:
their file's name (not the server's temporary path or an upload's internal name), no
errno, no traceback vocabulary, balanced quotes."""

from __future__ import annotations

import re
from pathlib import Path

_ERRNO = re.compile(r"\[Errno -?\d+\]\s*")
_TRAILING_PATH = re.compile(r":\s*'[^']*'\s*$")  # FFmpeg repeats the file's path at the end


def about_file(exc: BaseException, path: Path, name: str) -> str:
    """``exc``'s message about the file at ``path``, which the user knows as ``name``."""
    text = str(exc).strip()
    for form in (repr(str(path)), str(path), repr(path.name), path.name):
        text = text.replace(form, name)
    text = _TRAILING_PATH.sub("", _ERRNO.sub("", text))
    text = re.sub(r"^source ", "", text).removesuffix(f": {name}")
    if "is not a readable video" in text:
        why = text.split("is not a readable video", 1)[1].lstrip(": ").strip()
        return f"{name} is not a video samvideo can read" + (f" ({_lower(why)})" if why else "")
    return text


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]
