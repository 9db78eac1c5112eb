"""The Python API: :func:`track` a source, get one :class:`FrameResult` per frame.

::

    import samvideo

    for result in samvideo.track("clip.mp4", box=(35, 129, 88, 171)):
        mask = result[1].mask            # (H, W) bool of object 1
        arrays = result.to_numpy()       # masks (N, H, W), boxes_xyxy (N, 4), scores (N,)

With ``output="out/"`` the same run also writes the exports (``overlay.mp4``,
``masks/``, ``tracks.jsonl``, …) and ``run.json``, exactly as ``samvideo track`` does.
For frames you bring yourself (a webcam loop, a robot), use :class:`samvideo.Tracker`.
Many clips at once: :func:`batch` (``samvideo batch``), on this machine or a Ray cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from samvideo.annotate import MaskAnnotator
from samvideo.export import DEFAULT_EXPORTS, parse_exports
from samvideo.prompts import ObjectPrompt, prompt_to_json
from samvideo.results import FrameResult
from samvideo.run import FileOptions, Run, RunSummary
from samvideo.segmenters import VIDEO_MEMORY_MODELS, GrabCutConfig, load_model
from samvideo.segmenters.base import Segmenter
from samvideo.tracker import TRACKERS, MemoryConfig, TrackerConfig
from samvideo.video import FrameRange, Position, VideoInfo

if TYPE_CHECKING:  # the batch types load with the batch, not with samvideo.track
    from samvideo.batching import BatchOptions, BatchProgress, BatchReport
    from samvideo.stop import Stop


def build_prompts(
    box: Any = None,
    points: Any = None,
    neg_points: Any = None,
) -> list[ObjectPrompt]:
    """Prompts on the first frame from ``box`` (one XYXY box, or an (N, 4) array / list of
    boxes: one object each, ids 1..N) and ``points`` / ``neg_points`` ((x, y) pairs for
    the single object). ValueError names what is malformed."""
    boxes = [] if box is None else np.asarray(box, dtype=float)
    if box is not None:
        if boxes.shape == (4,):
            boxes = boxes[None]
        if boxes.ndim != 2 or boxes.shape[1] != 4 or not len(boxes):
            raise ValueError(f"box={box!r}: give (x1, y1, x2, y2) or an (N, 4) array of them")
    pos = _points(points, "points")
    neg = _points(neg_points, "neg_points")
    if len(boxes) > 1 and (pos or neg):
        raise ValueError("points belong to one object: with several boxes, give "
                         "prompts=[ObjectPrompt(...), ...] instead")
    if not len(boxes):
        if not pos:
            raise ValueError("no object to track: give box=(x1, y1, x2, y2) and/or points")
        return [ObjectPrompt(1, None, pos, neg)]
    return [ObjectPrompt(i, tuple(float(v) for v in b), pos if i == 1 else (),
                         neg if i == 1 else ()) for i, b in enumerate(boxes, start=1)]


def _points(value: Any, name: str) -> tuple[tuple[float, float], ...]:
    if value is None:
        return ()
    arr = np.asarray(value, dtype=float)
    if arr.shape == (2,):
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name}={value!r}: give (x, y) pairs, e.g. [(65, 148)]")
    return tuple((float(x), float(y)) for x, y in arr)


class Tracking:
    """One tracking run: iterate it for :class:`FrameResult` objects in source order.

    Made by :func:`track`. Iterating to the end finishes the run (and its outputs);
    leaving early (``break``, an exception, :meth:`close`) stops it after the current
    frame: with ``output`` the files are closed and readable and ``run.json`` says
    ``interrupted``. Use it in a ``with`` block, or iterate it to the end.

    Attributes:
        info: the source's :class:`VideoInfo` (size, exact rate, time base).
        model: which segmenter runs, in words.
        summary: the :class:`RunSummary` (outputs, timings) once a run with ``output``
            has ended; None before, and without ``output``.
    """

    def __init__(self, run: Run, model: str) -> None:
        self._run, self.model = run, model
        self.info: VideoInfo = run.info
        self.prompts, self.notes = run.source.prompts, run.source.notes

    @property
    def summary(self) -> RunSummary | None:
        return self._run.summary if self._run.out is not None else None

    def __enter__(self) -> Tracking:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[FrameResult]:
        try:
            return iter(self._run)
        except RuntimeError:
            raise RuntimeError("a Tracking can be iterated once: call samvideo.track() "
                               "again") from None

    def close(self) -> None:
        """Stop after the current frame; with ``output``, the files are closed when this
        returns."""
        self._run.close()


def track(
    source: str | Path,
    box: Any = None,
    points: Any = None,
    neg_points: Any = None,
    *,
    prompts: Sequence[ObjectPrompt] | None = None,
    model: str | Segmenter = "auto",
    checkpoint: str | Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    output: str | Path | None = None,
    exports: str | Sequence[str] = DEFAULT_EXPORTS,
    overwrite: bool = False,
    start: str | Position | None = None,
    end: str | Position | None = None,
    max_frames: int | None = None,
    fps: Fraction | float | None = None,
    tracker: TrackerConfig | MemoryConfig | str | None = None,
    grabcut: GrabCutConfig | None = None,
    annotator: MaskAnnotator | None = None,
    batch: int = 1,
    direction: str = "forward",
) -> Tracking:
    """Track objects through ``source`` (a video file, a folder of frames, or ``"-"`` for
    standard input); iterate the result for one :class:`FrameResult` per frame.

    Args:
        box: the object's box on the first frame, XYXY pixels (x2, y2 exclusive), or an
            (N, 4) array of boxes for N objects (ids 1..N).
        points, neg_points: foreground / background clicks (x, y) for the one object.
        prompts: instead of the three above: :class:`ObjectPrompt` objects (several
            objects, objects that start later, points per object).
        model: ``"auto"`` (the best cached checkpoint for the device, or the family of
            ``checkpoint``; else GrabCut), a ``--model`` name (``"mobile_sam"``,
            ``"sam2.1_hiera_tiny"``, ``"vit_b"`` …, ``"grabcut"``: :data:`MODEL_NAMES`), or
            a ready :class:`Segmenter`.
        output: a folder: also write ``exports`` there (as ``samvideo track -o``).
        start, end: track from / up to (not including) a frame number (``120``) or a
            time (``"2.5s"``, ``2.5``) — results keep source frame numbers; boxes are
            on the first frame tracked.
        max_frames: stop after this many frames.
        tracker: the tracker, by name (``"box"``, the default; ``"memory"``: SAM 2.1's
            video memory, SAM 2.1 models only) or by its settings (a
            :class:`TrackerConfig` is the box tracker, a :class:`MemoryConfig` the memory
            tracker; None: the box tracker's defaults).
        grabcut: the GrabCut backend's settings (:class:`GrabCutConfig`; None: defaults).
        direction: ``"forward"``, ``"backward"`` (from the prompts back to the first
            frame) or ``"both"`` (a prompt on frame 40 gives frames 0-39 too); results
            come in source order either way.

    Raises ValueError naming a bad argument or source (before anything is tracked).
    """
    if prompts is not None and (box is not None or points is not None or neg_points is not None):
        raise ValueError("give either prompts=[...] or box/points, not both")
    prompts = list(prompts) if prompts is not None else build_prompts(box, points, neg_points)
    source = "/dev/stdin" if str(source) == "-" else source
    part = FrameRange.parse(start, end)
    exports = parse_exports(exports)
    tracker_config = tracker_config_of(tracker)
    among = VIDEO_MEMORY_MODELS if isinstance(tracker_config, MemoryConfig) else None
    segmenter, reason = load_model(model, checkpoint=checkpoint, device=device,
                                   precision=precision, grabcut=grabcut, among=among)
    options = FileOptions(
        output=None if output is None else Path(output), exports=exports,
        overwrite=overwrite, max_frames=max_frames, batch=batch, start=part.start,
        end=part.end, fps=None if fps is None else Fraction(fps),
        annotator=annotator or MaskAnnotator(), tracker=tracker_config,
        direction=direction, inputs={"api": "samvideo.track", "source": str(source),
                "prompts": [prompt_to_json(p) for p in prompts], "model": str(model)},
    )
    if output is not None:
        out = Path(output)
        if out.is_dir() and any(out.iterdir()) and not overwrite:
            raise ValueError(f"output folder {str(out)!r} is not empty: pass "
                             "overwrite=True or another folder")
    return Tracking(Run(source, prompts, segmenter, options), reason)


def tracker_config_of(tracker: TrackerConfig | MemoryConfig | str | None
                      ) -> TrackerConfig | MemoryConfig:
    """``track(tracker=...)``: a name (``"box"`` / ``"memory"``: that tracker's defaults)
    or a config, as a config; ValueError for anything else."""
    if tracker is None or tracker == "box":
        return TrackerConfig()
    if tracker == "memory":
        return MemoryConfig()
    if isinstance(tracker, TrackerConfig | MemoryConfig):
        return tracker
    raise ValueError(f"tracker={tracker!r}: give {' or '.join(map(repr, TRACKERS))}, a "
                     "TrackerConfig or a MemoryConfig")


def batch_options(
    output: str | Path,
    *,
    engine: str = "local",
    ray_address: str | None = None,
    workers: int | None = None,
    cpus_per_clip: float | None = None,
    gpus_per_clip: float | None = None,
    retries: int = 2,
    skip_bad: bool = False,
    overwrite: bool = False,
    dataset_exports: str | Sequence[str] = (),
    model: str = "auto",
    checkpoint: str | Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    compile: bool = False,
    reference: bool = False,
    exports: str | Sequence[str] = DEFAULT_EXPORTS,
    max_frames: int | None = None,
    fps: Fraction | float | None = None,
    timeout_s: float | None = 30.0,
    tracker: TrackerConfig | MemoryConfig | str | None = None,
    grabcut: GrabCutConfig | None = None,
    annotator: MaskAnnotator | None = None,
    batch: int | None = None,
) -> BatchOptions:
    """The :class:`~samvideo.batching.BatchOptions` of :func:`batch` (``samvideo batch``
    builds its options here too); the arguments are :func:`batch`'s. ValueError names a
    bad value, an unknown model or a missing checkpoint."""
    from samvideo.batching import BatchOptions, ModelSpec
    from samvideo.segmenters import resolve_model

    if not isinstance(model, str):
        raise ValueError("batch workers build their own model: give its name (and "
                         "checkpoint=), not a Segmenter")
    tracker_config = tracker_config_of(tracker)
    memory = isinstance(tracker_config, MemoryConfig)
    name, _ = resolve_model(model, checkpoint, among=VIDEO_MEMORY_MODELS if memory else None)
    if memory and name != "auto" and name not in VIDEO_MEMORY_MODELS:
        raise ValueError(f"--tracker memory needs a SAM 2.1 model (--model sam2.1_hiera_* or "
                         f"a SAM 2.1 --checkpoint): {name} has no video memory; use "
                         "--tracker box")
    if checkpoint is not None:
        checkpoint = Path(checkpoint).expanduser().resolve()  # workers have other cwds
        if not checkpoint.is_file():
            raise ValueError(f"checkpoint {str(checkpoint)!r} does not exist")
    spec = ModelSpec(name=name, checkpoint=None if checkpoint is None else str(checkpoint),
                     device=device, precision=precision, compile=compile,
                     reference=reference, grabcut=grabcut)
    clip = FileOptions(exports=parse_exports(exports), max_frames=max_frames,
                       fps=None if fps is None else Fraction(fps), timeout_s=timeout_s,
                       tracker=tracker_config,
                       annotator=annotator or MaskAnnotator())
    wanted = [dataset_exports] if isinstance(dataset_exports, str) else list(dataset_exports)
    return BatchOptions(output=Path(output), engine=engine, ray_address=ray_address,
                        workers=workers, cpus_per_clip=cpus_per_clip,
                        gpus_per_clip=gpus_per_clip, retries=retries, skip_bad=skip_bad,
                        overwrite=overwrite, dataset_exports=tuple(dict.fromkeys(wanted)),
                        model=spec, clip=clip, encoder_batch=batch)


def batch(
    manifest: str | Path,
    output: str | Path,
    *,
    stop: Stop | None = None,
    on_progress: Callable[[BatchProgress], Any] | None = None,
    **options: Any,
) -> BatchReport:
    """Track every clip of ``manifest`` (CSV or JSON Lines, one row per clip: see
    :mod:`samvideo.batching.manifest`) into ``output``, as ``samvideo batch`` does, and
    return the :class:`~samvideo.batching.BatchReport` (also written to
    ``output/batch.json``).

    Options (keyword-only, as :func:`batch_options` takes them): ``engine`` ("local": a
    process pool on this machine; "ray": Ray tasks, on ``ray_address`` or a local
    cluster started for the run, or the one this process already joined), ``workers``,
    ``cpus_per_clip``, ``gpus_per_clip``, ``retries`` (2), ``skip_bad``, ``overwrite``
    (redo complete clips), ``dataset_exports`` ("youtube-vis"), and the track options
    every clip gets: ``model``, ``checkpoint``, ``device``, ``precision``, ``exports``,
    ``max_frames``, ``fps``, ``timeout_s``, ``tracker``, ``grabcut``, ``annotator``,
    ``batch``.

    ``stop`` ends the batch cleanly when set (without it, Ctrl-C in the main thread
    does); ``on_progress`` gets a :class:`~samvideo.batching.BatchProgress` about four
    times a second. Running it again skips the clips complete for the same inputs and
    resumes the interrupted ones. The local engine spawns its workers: a script that
    calls this needs the ``if __name__ == "__main__":`` guard, as with any
    multiprocessing. Raises ValueError for a bad manifest row (unless ``skip_bad``) or
    a bad option, before any clip runs.
    """
    from samvideo.batching import run_batch

    return run_batch(manifest, batch_options(output, **options), stop=stop,
                     on_progress=on_progress)
