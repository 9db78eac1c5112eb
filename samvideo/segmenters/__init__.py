"""Segmenter backends behind one protocol, and a registry of builder functions.

``build_segmenter("grabcut")`` or ``build_segmenter("vit_b", checkpoint=...)``; the
names a user may give to ``--model`` are :data:`MODEL_NAMES`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from samvideo.segmenters.base import Candidates, PromptRequest, Segmenter
from samvideo.segmenters.grabcut import GrabCutSegmenter

#: ``--model`` choices: ``auto`` picks the best cached SAM checkpoint, else GrabCut.
MODEL_NAMES = ("auto", "vit_h", "vit_l", "vit_b", "grabcut")
SAM_MODELS = ("vit_h", "vit_l", "vit_b")


def _build_grabcut(**options) -> Segmenter:
    return GrabCutSegmenter(**options)


def _build_sam(model: str, checkpoint: str | Path | None, **options) -> Segmenter:
    from samvideo.segmenters.sam import SamSegmenter

    if checkpoint is None:
        from samvideo import weights

        cached = weights.cached_path(model) if model != "auto" else None
        if cached is None:
            raise ValueError(
                f"model {model!r} needs a checkpoint: give --checkpoint PATH or run "
                f"'samvideo weights download {model}'"
            )
        checkpoint = cached
    return SamSegmenter(checkpoint, model=model, **options)


SEGMENTER_REGISTRY: dict[str, Callable[..., Segmenter]] = {
    "grabcut": lambda checkpoint=None, **o: _build_grabcut(**o),
    "vit_h": lambda checkpoint=None, **o: _build_sam("vit_h", checkpoint, **o),
    "vit_l": lambda checkpoint=None, **o: _build_sam("vit_l", checkpoint, **o),
    "vit_b": lambda checkpoint=None, **o: _build_sam("vit_b", checkpoint, **o),
}


def resolve_model(model: str, checkpoint: str | Path | None) -> tuple[str, str]:
    """Turn ``--model`` / ``--checkpoint`` into a concrete backend name.

    Returns ``(model, reason)``: ``auto`` with a checkpoint becomes SAM with the
    architecture read from the file; ``auto`` without one becomes the largest cached
    official checkpoint, else ``grabcut``. ``reason`` says which and why.
    """
    if model not in MODEL_NAMES:
        raise ValueError(f"unknown model {model!r}: choose one of {', '.join(MODEL_NAMES)}")
    if model == "grabcut" and checkpoint is not None:
        raise ValueError(f"--checkpoint {str(checkpoint)!r} was given with --model grabcut")
    if model != "auto":
        return model, f"model {model}"
    if checkpoint is not None:
        return "auto", f"SAM checkpoint {checkpoint}"
    from samvideo import weights

    best = weights.best_cached()
    if best is None:
        return "grabcut", (
            "no SAM checkpoint in the cache: using GrabCut "
            "('samvideo weights download vit_b' gets SAM)"
        )
    return best.name, f"using cached SAM checkpoint {best.name} ({weights.cached_path(best.name)})"


def build_segmenter(model: str, *, checkpoint: str | Path | None = None, **options) -> Segmenter:
    """Build a segmenter by ``--model`` name (after :func:`resolve_model`).

    ``model="auto"`` with a checkpoint loads SAM with the architecture read from the file.
    """
    if model == "auto":
        if checkpoint is None:
            raise ValueError("model 'auto' needs a checkpoint here; call resolve_model first")
        return _build_sam("auto", checkpoint, **options)
    try:
        builder = SEGMENTER_REGISTRY[model]
    except KeyError:
        raise ValueError(
            f"unknown model {model!r}: choose one of {', '.join(MODEL_NAMES)}"
        ) from None
    return builder(checkpoint=checkpoint, **options)


__all__ = [
    "MODEL_NAMES",
    "Candidates",
    "GrabCutSegmenter",
    "PromptRequest",
    "Segmenter",
    "build_segmenter",
    "resolve_model",
]
