"""Fixtures of the tracker tests.

* ``small_sam2``: the session's random SAM 2.1 hiera_tiny checkpoint (``sam2_checkpoint``,
  built by ``sam2``'s own code) loaded by samvideo at a 128-pixel encoder input
  (``image_size=128``, ``sam2``'s own ``++model.image_size`` override: the same tensors,
  an 8 x 8 feature grid), fp32: every SAM 2 module runs, in a tenth of a second a frame.
* ``clip``: 20 frames of 96 x 128 (a textured square moving over noise): long enough that
  SAM 2 normalises its pointers' temporal encoding by its own 16, not by the clip.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import make_frames

#: the encoder input of the small SAM 2.1 (a multiple of 64)
SMALL_SIDE = 128


@pytest.fixture(scope="session")
def small_sam2(sam2_checkpoint):
    from samvideo.segmenters.sam2 import Sam2Segmenter

    return Sam2Segmenter(sam2_checkpoint, device="cpu", precision="fp32",
                         image_size=SMALL_SIDE)


@pytest.fixture(scope="session")
def clip() -> list[np.ndarray]:
    return make_frames(20, width=128, height=96, start=(10.0, 10.0), velocity=(3.0, 1.5),
                       size=30.0)
