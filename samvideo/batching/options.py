"""The settings of a batch run: :class:`BatchOptions` (how the clips are run: the engine,
the workers, retries, outputs) and :class:`ModelSpec` (the segmenter every worker
builds for itself). Both go to ``batch.json``; the per-clip settings (exports, the
tracker, the overlay, ``max_frames`` ...) are a :class:`~samvideo.run.FileOptions`
template, the one home they have for a single run too."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from samvideo.batching import DATASET_EXPORTS, ENGINES
from samvideo.record import settings
from samvideo.run import FileOptions
from samvideo.segmenters import GrabCutConfig, load_model
from samvideo.segmenters.base import Segmenter


@dataclass(frozen=True)
class ModelSpec:
    """What a worker needs to build the segmenter with :func:`~samvideo.segmenters.load_model`
    (a recipe, sent to every worker, instead of the model itself: a worker loads it
    once and keeps it for every clip it runs)."""

    name: str = "grabcut"  # a --model name, resolved on the driver (not "auto")
    checkpoint: str | None = None  # a path every worker sees (a shared file system)
    device: str = "auto"  # "auto": CUDA when the worker has it
    precision: str = "auto"  # "auto": bf16 where the hardware has it natively
    compile: bool = False  # torch.compile the encoder: minutes per worker, up front
    reference: bool = False  # SAM as SamPredictor computes it (for checking)
    grabcut: GrabCutConfig | None = None  # GrabCut's settings (None: the defaults)

    @property
    def uses_gpu(self) -> bool:
        """Whether this model would run on a GPU where there is one (SAM, not on CPU)."""
        return self.name != "grabcut" and not self.device.startswith("cpu")

    def load(self, *, device: str | None = None) -> Segmenter:
        """Build the segmenter (``device`` overrides :attr:`device`: a local worker's GPU)."""
        segmenter, _ = load_model(self.name, checkpoint=self.checkpoint,
                                  device=device or self.device, precision=self.precision,
                                  compile=self.compile, reference=self.reference,
                                  grabcut=self.grabcut)
        return segmenter


@dataclass(frozen=True)
class BatchOptions:
    """How ``samvideo batch`` runs a manifest's clips."""

    output: Path  # OUT: batch.json, the data-set exports, and each clip's folder
    engine: str = "local"  # a process pool on this machine; "ray": Ray tasks
    ray_address: str | None = None  # None: a local Ray cluster for the run; "auto", ray://
    workers: int | None = None  # clips at once (None: as many as the cores / GPUs allow)
    cpus_per_clip: float | None = None  # Ray's num_cpus per clip and each worker's threads
    # (None: this machine's cores / workers, or 1 on a running cluster)
    gpus_per_clip: float | None = None  # None: 1 for a GPU model where there are GPUs, else 0
    retries: int = 2  # tries after the first: a lost worker is rare, a clip failing 3x broken
    skip_bad: bool = False  # run the good rows of a manifest with bad ones (else refuse all)
    overwrite: bool = False  # redo every clip, even those complete from an earlier run
    dataset_exports: tuple[str, ...] = ()  # data-set files over all clips (DATASET_EXPORTS)
    model: ModelSpec = field(default_factory=ModelSpec)
    clip: FileOptions = field(default_factory=FileOptions)  # each clip's run settings
    # (output, start, end, resume and inputs are set per clip)
    encoder_batch: int | None = None  # frames per encoder call (None: 4 on CUDA, else 1,
    # as samvideo track; the worker knows its device)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine {self.engine!r}: choose one of {', '.join(ENGINES)}")
        for name, value in (("workers", self.workers), ("cpus_per_clip", self.cpus_per_clip)):
            if value is not None and not value > 0:
                raise ValueError(f"{name}={value!r}: must be positive")
        if self.gpus_per_clip is not None and not self.gpus_per_clip >= 0:
            raise ValueError(f"gpus_per_clip={self.gpus_per_clip!r}: must be 0 or more")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"retries={self.retries!r}: must be a whole number >= 0")
        unknown = [d for d in self.dataset_exports if d not in DATASET_EXPORTS]
        if unknown:
            raise ValueError(f"dataset export {unknown[0]!r}: choose from "
                             f"{', '.join(DATASET_EXPORTS)}")
        if self.dataset_exports and "davis" not in self.clip.exports:
            raise ValueError("--dataset-export reads each clip's masks/ PNGs: keep davis in "
                             "--export")

    def to_json(self) -> dict[str, Any]:
        """What ``batch.json`` records of these options."""
        data = {k: v for k, v in asdict(self).items() if k not in ("clip", "model")}
        data["encoder_batch"] = self.encoder_batch
        data["output"] = str(self.output)
        data["model"] = settings(self.model)
        clip = self.clip
        data["clip"] = {"exports": list(clip.exports), "max_frames": clip.max_frames,
                        "timeout_s": clip.timeout_s, "fps": None if clip.fps is None
                        else str(clip.fps),
                        "annotator": settings(clip.annotator), "tracker": settings(clip.tracker)}
        return data
