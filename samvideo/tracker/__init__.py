"""The per-frame tracking policy.

=============  ===========================================================================
module         owns
=============  ===========================================================================
``config``     :class:`TrackerConfig`: every threshold of the policy, with its reason
``box``        :class:`Tracker`: the box prompt carried from frame to frame (the policy)
``state``      :class:`~samvideo.tracker.state.TrackedObject`, and the state as plain data
``search``     lost and found: the search box and the object-coloured blob in it
``geometry``   clicks relative to a box, an object's extent, a mask's ring and centre
=============  ===========================================================================
"""

from samvideo.tracker.box import STATE_FORMAT, Tracker
from samvideo.tracker.config import TrackerConfig

__all__ = ["STATE_FORMAT", "Tracker", "TrackerConfig"]
