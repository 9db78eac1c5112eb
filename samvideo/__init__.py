"""samvideo: track objects through a video with Segment Anything (SAM).

Data flow (see DESIGN.md): ``video.open_video`` → ``Segmenter.encode`` →
``Tracker.step`` → sinks in ``export``. The Python API is :func:`samvideo.api.track`
and :class:`samvideo.tracker.Tracker`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from samvideo.prompts import ObjectPrompt
from samvideo.results import FrameResult, ObjectResult

__all__ = ["FrameResult", "ObjectPrompt", "ObjectResult", "__version__"]
