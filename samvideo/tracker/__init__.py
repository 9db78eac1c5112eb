"""The per-frame tracking policy.

=================  ========================================================================
module             owns
=================  ========================================================================
``config``         :class:`TrackerConfig`: every threshold of the box policy, with its reason
``box``            :class:`Tracker`: the box prompt carried from frame to frame (the policy)
``prompting``     :class:`~samvideo.tracker.prompting.PromptQueue`: prompts due on later frames
``state``          :class:`~samvideo.tracker.state.TrackedObject`, and the state as plain data
``search``         lost and found: the search box and the object-coloured blob in it
``geometry``       clicks relative to a box, an object's extent, a mask's ring and centre
``memory_config``  :class:`MemoryConfig`: the memory tracker's settings (SAM 2.1 models)
``memory``         :class:`~samvideo.tracker.memory.MemoryTracker`: SAM 2.1's video memory,
                   streamed, with SAMURAI's motion-aware choice (``--tracker memory``)
``memory_bank``    one object's bounded memory; ``sam2_steps``: SAM 2's per-frame steps
=================  ========================================================================

Which tracker runs is said by the config it is given (:func:`make_tracker`): a
:class:`TrackerConfig` is the box tracker, a :class:`MemoryConfig` the memory tracker.
"""

from __future__ import annotations

from typing import Any

from samvideo.tracker.box import STATE_FORMAT, Tracker
from samvideo.tracker.config import TrackerConfig
from samvideo.tracker.memory_config import MemoryConfig

#: ``--tracker`` choices; "box" is the default for every model (the only one for SAM 1,
#: MobileSAM and GrabCut, which have no video memory)
TRACKERS = ("box", "memory")


def tracker_name(config: TrackerConfig | MemoryConfig) -> str:
    """``"box"`` or ``"memory"``: the tracker ``config`` belongs to."""
    if isinstance(config, MemoryConfig):
        return "memory"
    if isinstance(config, TrackerConfig):
        return "box"
    raise ValueError(f"tracker config {config!r} is neither a TrackerConfig nor a MemoryConfig")


def check_tracker(segmenter: Any, config: TrackerConfig | MemoryConfig) -> None:
    """ValueError (one line) when ``segmenter`` cannot run the tracker ``config`` asks for
    (the memory tracker needs a SAM 2.1 model on its fast path)."""
    if tracker_name(config) == "memory":
        from samvideo.tracker.memory import check_segmenter

        check_segmenter(segmenter)


def make_tracker(segmenter: Any, config: TrackerConfig | MemoryConfig):
    """The tracker ``config`` asks for, on ``segmenter`` (:func:`check_tracker` first)."""
    if tracker_name(config) == "memory":
        from samvideo.tracker.memory import MemoryTracker

        return MemoryTracker(segmenter, config=config)
    return Tracker(segmenter, config=config)


__all__ = ["STATE_FORMAT", "TRACKERS", "MemoryConfig", "Tracker", "TrackerConfig",
           "check_tracker", "make_tracker", "tracker_name"]
