"""samvideo: track objects through a video with Segment Anything (SAM).

Data flow (see DESIGN.md): ``video.open_video`` → ``Segmenter.encode`` →
``Tracker.step`` → sinks in ``export``. The Python API is :func:`samvideo.api.track`
and :class:`samvideo.tracker.Tracker`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from samvideo.prompts import ObjectPrompt
from samvideo.results import FrameResult, ObjectResult

__all__ = ["FrameResult", "ObjectPrompt", "ObjectResult", "Tracker", "Tracking", "__version__",
           "load_model", "track"]

_LAZY = {"track": "samvideo.api", "Tracking": "samvideo.api", "load_model": "samvideo.api",
         "Tracker": "samvideo.tracker"}


def __getattr__(name: str):  # the heavy parts (OpenCV, PyAV, torch) load on first use
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'samvideo' has no attribute {name!r}")
