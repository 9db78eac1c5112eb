"""samvideo: track objects through a video with Segment Anything (SAM).

Data flow (the README's "How it works"): a source (:mod:`samvideo.video`) →
``Segmenter.encode`` (:mod:`samvideo.segmenters`) → ``Tracker.step``
(:mod:`samvideo.tracker`) → the sinks (:mod:`samvideo.export`), through the one frame
loop (:mod:`samvideo.loop`) that a :class:`samvideo.run.Run` drives. The Python API is
:func:`samvideo.track`, :func:`samvideo.batch` (many clips) and :class:`samvideo.Tracker`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from samvideo.prompts import ObjectPrompt
from samvideo.results import FrameResult, ObjectResult

__all__ = ["FrameResult", "ObjectPrompt", "ObjectResult", "Tracker", "Tracking", "__version__",
           "batch", "load_model", "track"]

_LAZY = {"track": "samvideo.api", "Tracking": "samvideo.api", "load_model": "samvideo.segmenters",
         "Tracker": "samvideo.tracker", "batch": "samvideo.api"}


def __getattr__(name: str):  # the heavy parts (OpenCV, PyAV, torch) load on first use
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'samvideo' has no attribute {name!r}")
