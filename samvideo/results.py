"""The common currency: what the tracker says about one object on one frame."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Per-frame object states, as written to ``tracks.jsonl``.
#: ``prompted``   the user's prompt was applied on this frame;
#: ``tracking``   the motion-model box prompt gave a good mask;
#: ``reprompted`` the score dropped and box + re-projected user points gave the mask;
#: ``lost``       no trustworthy mask: the mask is empty; ``box_xyxy`` is where the motion
#:                model expects the object (``tracks.jsonl`` writes it as
#:                ``predicted_bbox_xyxy``, with ``bbox_xyxy`` null);
#: ``predicted``  the last mask moved by the motion model stands in: live mode had no time
#:                to segment the frame, or (any run) the segmenter's answer jumped or
#:                leaked away from where the object was expected.
STATES = ("prompted", "tracking", "reprompted", "lost", "predicted")


@dataclass
class ObjectResult:
    """One object on one frame.

    Attributes:
        frame_index: index of the frame in the source (0-based, source numbering).
        time_s: presentation time of the frame in seconds from the stream start.
        object_id: the user's object id (1..N; 0 is background in label maps).
        mask: (H, W) bool, True on the object. All False while ``state == "lost"``.
        box_xyxy: (x1, y1, x2, y2) float pixels of the mask's tight box (x2, y2 exclusive),
            or the motion model's predicted box while lost (exports write it apart, as a
            prediction); None when nothing is known.
        score: confidence in [0, 1] (SAM's predicted IoU; GrabCut's colour score, no better
            than the mask looks: ``TrackerConfig.trust_appearance``).
        state: one of :data:`STATES`.
        name: the object's name from its prompt (``--name``, the prompts file's
            ``name``), or None.
    """

    frame_index: int
    time_s: float
    object_id: int
    mask: np.ndarray
    box_xyxy: tuple[float, float, float, float] | None
    score: float
    state: str
    name: str | None = None

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))

    def to_json(self) -> dict:
        """The ``tracks.jsonl`` record (no mask): ``bbox_xyxy`` is the mask's box, null
        while the object is lost; then ``predicted_bbox_xyxy`` is where the motion model
        expects it (it may lie partly outside the frame)."""
        box = None if self.box_xyxy is None else [round(float(v), 2) for v in self.box_xyxy]
        record = {
            "frame": self.frame_index,
            "time": round(self.time_s, 6),
            "object_id": self.object_id,
            "name": self.name,
            "bbox_xyxy": None if self.state == "lost" else box,
            "score": round(float(self.score), 4),
            "state": self.state,
            "area": self.area,
        }
        if self.state == "lost":
            record["predicted_bbox_xyxy"] = box
        return record


@dataclass
class FrameResult:
    """All objects on one frame, in object-id order.

    Attributes:
        frame_index: source frame index.
        time_s: frame time in seconds.
        objects: one :class:`ObjectResult` per active object.
        image: the frame, (H, W, 3) uint8 RGB; kept so sinks can draw overlays.
    """

    frame_index: int
    time_s: float
    objects: list[ObjectResult] = field(default_factory=list)
    image: np.ndarray | None = None

    def label_map(self) -> np.ndarray:
        """(H, W) uint8 label map: 0 = background, else the object id (masks are disjoint)."""
        from samvideo.masks import label_map

        h, w = self.size()
        return label_map([(o.object_id, o.mask) for o in self.objects], (h, w))

    def size(self) -> tuple[int, int]:
        """(H, W) of the frame: of its image, else of its objects' masks."""
        if self.image is not None:
            return self.image.shape[:2]
        if self.objects:
            return self.objects[0].mask.shape
        raise ValueError(f"frame {self.frame_index} has neither image nor objects: size unknown")

    def __getitem__(self, object_id: int) -> ObjectResult:
        for obj in self.objects:
            if obj.object_id == object_id:
                return obj
        raise KeyError(f"object {object_id} not on frame {self.frame_index}")

    def to_numpy(self) -> dict[str, np.ndarray]:
        """Arrays for this frame: ``object_ids`` (N,), ``masks`` (N, H, W) bool,
        ``boxes_xyxy`` (N, 4) float32 (NaN when unknown), ``scores`` (N,) float32."""
        h, w = self.size()
        boxes = [o.box_xyxy if o.box_xyxy is not None else (np.nan,) * 4 for o in self.objects]
        return {
            "object_ids": np.array([o.object_id for o in self.objects], dtype=np.int32),
            "masks": np.stack([o.mask for o in self.objects]) if self.objects
            else np.zeros((0, h, w), bool),
            "boxes_xyxy": np.array(boxes, dtype=np.float32).reshape(-1, 4),
            "scores": np.array([o.score for o in self.objects], dtype=np.float32),
        }

    def to_supervision(self):
        """Convert to ``supervision.Detections`` (needs the optional ``supervision`` package).

        Lost objects (empty masks) are left out. ``xyxy`` (N, 4) float32 pixels, ``mask``
        (N, H, W) bool, ``confidence`` (N,) float32, ``tracker_id`` (N,) the object ids,
        ``class_id`` (N,) zeros, ``data["state"]`` (N,) the tracking states.
        """
        try:
            import supervision as sv
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError(
                "to_supervision() needs the 'supervision' package: pip install supervision"
            ) from exc
        keep = [o for o in self.objects if o.mask.any() and o.box_xyxy is not None]
        h, w = self.size()
        return sv.Detections(
            xyxy=np.array([o.box_xyxy for o in keep], dtype=np.float32).reshape(-1, 4),
            mask=np.stack([o.mask for o in keep]) if keep else np.zeros((0, h, w), bool),
            confidence=np.array([o.score for o in keep], dtype=np.float32),
            tracker_id=np.array([o.object_id for o in keep], dtype=int),
            class_id=np.zeros(len(keep), dtype=int),
            data={"state": np.array([o.state for o in keep], dtype=str)},
        )
