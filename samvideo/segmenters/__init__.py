"""Segmenter backends behind one protocol, and a registry of builder functions.

:func:`load_model` is the one way every caller (the command line, ``samvideo.track()``,
the browser page) gets a segmenter: ``load_model("grabcut")`` or ``load_model("vit_b",
checkpoint=...)``; the names a user may give to ``--model`` are :data:`MODEL_NAMES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from samvideo.segmenters.base import Candidates, PromptRequest, Segmenter
from samvideo.segmenters.grabcut import GrabCutConfig, GrabCutSegmenter

#: ``--model`` choices: ``auto`` picks the best cached SAM checkpoint, else GrabCut.
MODEL_NAMES = ("auto", "vit_h", "vit_l", "vit_b", "grabcut")
SAM_MODELS = ("vit_h", "vit_l", "vit_b")


def _build_grabcut(config: GrabCutConfig | None = None, **ignored: Any) -> Segmenter:
    return GrabCutSegmenter(config)  # device and precision do not apply to OpenCV


def _build_sam(model: str, checkpoint: str | Path | None, config: Any = None,
               **options: Any) -> Segmenter:
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


def load_model(
    model: str | Segmenter = "auto",
    *,
    checkpoint: str | Path | None = None,  # a checkpoint file; its tensors say the family
    device: str = "auto",  # "auto": CUDA when present (torch backends only)
    precision: str = "auto",  # "auto": bf16 where the hardware has it natively
    compile: bool = False,  # torch.compile the image encoder: costs minutes up front
    reference: bool = False,  # the model's own predictor, unchanged (for checking)
    grabcut: GrabCutConfig | None = None,  # GrabCut's settings (None: the defaults)
) -> tuple[Segmenter, str]:
    """A segmenter by ``--model`` name (or the given one, as it is) and a line saying
    which it is and why (``"auto"``: the best cached checkpoint, else GrabCut).
    ValueError names a bad name, a missing checkpoint or a file that is not a model."""
    if not isinstance(model, str):
        return model, f"model {getattr(model, 'name', type(model).__name__)}"
    name, reason = resolve_model(model, checkpoint)
    options: dict[str, Any] = {"config": grabcut} if name == "grabcut" else {
        "device": device, "precision": precision, "compile": compile, "reference": reference}
    return build_segmenter(name, checkpoint=checkpoint, **options), reason


def describe(segmenter: Segmenter) -> dict[str, Any]:
    """What ``run.json`` says of a segmenter besides its name: device, precision and
    architecture where it has them, and its settings (``config``) as JSON data."""
    info: dict[str, Any] = {k: str(getattr(segmenter, k)) for k in ("device", "precision",
                                                                    "arch")
                            if hasattr(segmenter, k)}
    config = getattr(segmenter, "config", None)
    if is_dataclass(config):
        info["config"] = asdict(config)
    return info


__all__ = [
    "MODEL_NAMES",
    "Candidates",
    "GrabCutConfig",
    "GrabCutSegmenter",
    "PromptRequest",
    "Segmenter",
    "build_segmenter",
    "describe",
    "load_model",
    "resolve_model",
]
