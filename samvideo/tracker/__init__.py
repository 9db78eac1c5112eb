"""The per-frame tracking policy.

=============  ===========================================================================
module         owns
=============  ===========================================================================
``config``     :class:`TrackerConfig`: every threshold of the policy, with its reason
``box``        :class:`Tracker`: the box prompt carried from frame to frame (the policy)
``state``      :class:`~samvideo.tracker.state.TrackedObject`, and the state as plain data
=============  ===========================================================================
"""

from samvideo.tracker.box import STATE_FORMAT, Tracker
from samvideo.tracker.config import TrackerConfig

__all__ = ["STATE_FORMAT", "Tracker", "TrackerConfig"]
