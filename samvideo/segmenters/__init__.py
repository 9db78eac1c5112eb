"""Segmenter backends behind one protocol, and a registry of builder functions.

:func:`load_model` is the one way every caller (the command line, ``samvideo.track()``,
the browser page) gets a segmenter: ``load_model("grabcut")``, ``load_model("mobile_sam")``
(a cached checkpoint) or ``load_model("auto", checkpoint=...)`` (the file's tensors say
its family: SAM, SAM 2.1 or MobileSAM, :mod:`~samvideo.segmenters.families`); the names a
user may give to ``--model`` are :data:`MODEL_NAMES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from samvideo.segmenters import families
from samvideo.segmenters.base import Candidates, PromptRequest, Segmenter
from samvideo.segmenters.grabcut import GrabCutConfig, GrabCutSegmenter

#: ``--model`` choices: ``auto`` picks the best cached checkpoint for the device (or the
#: family the ``--checkpoint`` file is of), else GrabCut.
MODEL_NAMES = ("auto", "vit_h", "vit_l", "vit_b", "sam2.1_hiera_tiny", "sam2.1_hiera_small",
               "sam2.1_hiera_base_plus", "sam2.1_hiera_large", "mobile_sam", "grabcut")
SAM_MODELS = ("vit_h", "vit_l", "vit_b")
#: the models with a video memory (``--tracker memory``)
VIDEO_MEMORY_MODELS = tuple(n for n in MODEL_NAMES if n.startswith("sam2.1_"))


def _build_grabcut(config: GrabCutConfig | None = None, **ignored: Any) -> Segmenter:
    return GrabCutSegmenter(config)  # device and precision do not apply to OpenCV


def _segmenter_class(family: str) -> type:
    """The segmenter of a checkpoint family (imported on first use: torch, sam2, ...)."""
    if family == "sam":
        from samvideo.segmenters.sam import SamSegmenter

        return SamSegmenter
    if family == "sam2.1":
        from samvideo.segmenters.sam2 import Sam2Segmenter

        return Sam2Segmenter
    from samvideo.segmenters.mobile_sam import MobileSamSegmenter

    return MobileSamSegmenter


def _build_model(model: str, checkpoint: str | Path | None, config: Any = None,
                 **options: Any) -> Segmenter:
    """A checkpoint family's segmenter: the file is read once, its tensors say the family
    (and the model, which must be ``model`` unless that is ``"auto"``)."""
    from samvideo.segmenters.checkpoint import read_checkpoint

    if checkpoint is None:
        from samvideo import weights

        cached = weights.cached_path(model) if model != "auto" else None
        if cached is None:
            raise ValueError(
                f"model {model!r} needs a checkpoint: give --checkpoint PATH or run "
                f"'samvideo weights download {model}'"
            )
        checkpoint = cached
    state = read_checkpoint(checkpoint)
    source = f"checkpoint {checkpoint}"
    family, found = families.identify(state, source)
    families.check_model(model, found, source)
    return _segmenter_class(family)(checkpoint, model="auto", state=state, **options)


def _model_builder(name: str) -> Callable[..., Segmenter]:
    def build(checkpoint: str | Path | None = None, **options: Any) -> Segmenter:
        return _build_model(name, checkpoint, **options)

    return build


SEGMENTER_REGISTRY: dict[str, Callable[..., Segmenter]] = {
    "grabcut": lambda checkpoint=None, **o: _build_grabcut(**o),
    **{name: _model_builder(name) for name in families.FAMILY_OF},
}


def resolve_model(model: str, checkpoint: str | Path | None, *, device: str = "auto",
                  among: Sequence[str] | None = None,  # auto picks only these (None: any)
                  ) -> tuple[str, str]:
    """Turn ``--model`` / ``--checkpoint`` into a concrete backend name.

    Returns ``(model, reason)``: ``auto`` with a checkpoint stays ``auto`` (the family is
    read from the file when it loads); ``auto`` without one becomes the best cached
    official checkpoint for ``device`` (on a CPU the fastest, :data:`families.CPU_ORDER`;
    on a GPU the most accurate, :data:`families.GPU_ORDER`), else ``grabcut``. ``reason``
    says which and why. With ``among`` (``--tracker memory``: :data:`VIDEO_MEMORY_MODELS`)
    ``auto`` picks among those only, and ValueError says so when none is cached.
    """
    if model not in MODEL_NAMES:
        raise ValueError(f"unknown model {model!r}: choose one of {', '.join(MODEL_NAMES)}")
    if model == "grabcut" and checkpoint is not None:
        raise ValueError(f"--checkpoint {str(checkpoint)!r} was given with --model grabcut")
    if model != "auto":
        return model, f"model {model}"
    if checkpoint is not None:
        return "auto", f"checkpoint {checkpoint} (its tensors say the model)"
    from samvideo import weights

    gpu = _wants_gpu(device)
    order = families.GPU_ORDER if gpu else families.CPU_ORDER
    if among is not None:
        order = tuple(n for n in order if n in among)
    best = weights.best_cached(order=order)
    if best is None and among is not None:
        raise ValueError(f"--model auto: none of {', '.join(among)} is in the cache ('samvideo "
                         f"weights download {among[0]}', or give --checkpoint PATH)")
    if best is None:
        return "grabcut", (
            "no checkpoint in the cache: using GrabCut ('samvideo weights download "
            "mobile_sam' gets a SAM model that runs fast on a CPU)"
        )
    why = ("the most accurate cached model, for a GPU" if gpu
           else "the fastest cached model, for a CPU")
    return best.name, f"using {best.name} ({weights.cached_path(best.name)}): {why}"


def _wants_gpu(device: str) -> bool:
    """Whether ``--device`` means CUDA (``auto``: when there is one)."""
    text = str(device).strip().lower()
    if text == "auto":
        import torch

        return torch.cuda.is_available()
    return text.startswith("cuda")


def build_segmenter(model: str, *, checkpoint: str | Path | None = None, **options) -> Segmenter:
    """Build a segmenter by ``--model`` name (after :func:`resolve_model`).

    ``model="auto"`` with a checkpoint builds the family its tensors say.
    """
    if model == "auto":
        if checkpoint is None:
            raise ValueError("model 'auto' needs a checkpoint here; call resolve_model first")
        return _build_model("auto", checkpoint, **options)
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
    among: Sequence[str] | None = None,  # "auto" picks only these (resolve_model); None: any
) -> tuple[Segmenter, str]:
    """A segmenter by ``--model`` name (or the given one, as it is) and a line saying
    which it is and why (``"auto"``: the best cached checkpoint, else GrabCut).
    ValueError names a bad name, a missing checkpoint or a file that is not a model."""
    if not isinstance(model, str):
        return model, f"model {getattr(model, 'name', type(model).__name__)}"
    name, reason = resolve_model(model, checkpoint, device=device, among=among)
    options: dict[str, Any] = {"config": grabcut} if name == "grabcut" else {
        "device": device, "precision": precision, "compile": compile, "reference": reference}
    segmenter = build_segmenter(name, checkpoint=checkpoint, **options)
    if name == "auto":
        title = families.TITLES[segmenter.family]
        reason = f"{title} checkpoint {checkpoint} holds {segmenter.name}"
    return segmenter, reason


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
    "VIDEO_MEMORY_MODELS",
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
