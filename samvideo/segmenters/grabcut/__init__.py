"""GrabCut backend: OpenCV's GrabCut on a downscaled crop around the prompt.

It needs no weights, so it is what every user without a SAM checkpoint gets.

* **Rectangle mode** (a bare box: the user's first frame, a re-prompt, a search while
  the object is lost): outside the box is background, inside is to be decided. On the
  object's first frame, a mask that misses the box (a background model learned from a
  thin margin can explain most of the box) is cut again with a wider margin, and the
  user's box is taken as tight: rows and columns of it that the cut left empty are
  pinned to their most object-like pixel and cut again (``tight_box``).
* **Prior mode** (every tracked frame: the tracker sends the previous mask moved onto
  this frame by optical flow): the prior's boundary, plus or minus ``band`` /
  ``reach`` of its size, is left to the cut; deeper inside is sure foreground, further
  out sure background. Optical flow already puts the mask within a few pixels, so the
  cut only snaps the boundary to the image and cannot leak into a similar-coloured
  background (the ground between a bear's legs) nor eat into the object. Only pixels
  the colour models call object are left to the cut a little further out
  (``regrow``): a part the mask lost comes back when it is next to the mask.
* Clicks are discs of sure foreground / background, and pixels the tracker knows are
  background (``PromptRequest.background``: the part of the prior that moves with the
  background) are sure background, in both modes.

The colour models (``colour="first+core"``, measured best on DAVIS): the object's
pixels on its first frame are kept in the request's ``memory``; on every later frame the
foreground model is fitted to them plus ``core_sample`` pixels of the prior's core
(deep inside the moved mask, where flow put the object), and the background model to
this frame's sure background only. A mask that leaked into the background once cannot
teach the model that the background is the object, and object pixels in the band
around a prior that lags the object cannot teach the background model the object's
colours (which made masks shrink frame after frame). The models are fitted without
randomness (:func:`fit_gmm`): each background model starts from the object's last
one, each object model from the first frame's. The graph is built over the undecided
pixels only (:mod:`~samvideo.segmenters.grabcut.graphcut`: OpenCV's labels, at the
band's cost rather than the crop's on tracked frames), and the first frame's rounds and
pins cut one graph, each round starting from the last one's flow. The crop is cut at ``max_side``
pixels at most and the mask upsampled with its boundary snapped to the frame's edges
(a guided filter). Every setting is in :class:`GrabCutConfig`.
"""

from samvideo.segmenters.grabcut.config import COLOUR_MODES, GrabCutConfig, GrabCutEmbedding
from samvideo.segmenters.grabcut.segmenter import GrabCutSegmenter

__all__ = ["COLOUR_MODES", "GrabCutConfig", "GrabCutEmbedding", "GrabCutSegmenter"]
