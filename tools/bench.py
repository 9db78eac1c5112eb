"""Benchmark: each model's plain predictor loop, the one a user writes first, against
``samvideo track``, and the loop around the model.

For every model of ``--models`` (default: MobileSAM, SAM 2.1 tiny and small, SAM vit_b),
on the same frames of a clip, with a seeded random checkpoint of that model built by its
family's own code (it costs what the real one costs), one after the other in one run:

(a) the loop as written from the family's README: OpenCV reads a frame, the family's
    predictor (``SamPredictor``, ``mobile_sam.SamPredictor``, ``SAM2ImagePredictor``)
    ``set_image`` + ``predict(box=previous box, multimask_output=True)``, the best mask's
    box becomes the next prompt, OpenCV draws the overlay and ``cv2.VideoWriter`` writes it;
(b) ``samvideo track`` (run in this process through ``samvideo.cli.main``, the command's
    own code), with its default exports;

and prints seconds per frame for each, the ratio a / b, (b)'s split per frame into
model ms (preprocessing, encoder, prompt encoder and decoder), tracker ms (everything
else in the tracker: mask upscaling, optical flow, choice, clean-up, histograms) and
I/O ms (decoding the source, drawing and writing the outputs) — the stages run in
parallel threads, so they overlap — and MobileSAM's speed-up over samvideo's vit_b.

``--overhead`` prints the loop around the model per object per frame
(``tools/bench_overhead.py``: single-core CPU ms of model, tracker and I/O, with answers
from DAVIS's ground truth). ``--gpu-table`` (CUDA) prints, for every model at 480p and
1080p, frames per second of (a) and (b) and the fraction of the GPU's peak bf16 FLOP/s
that (b)'s SAM encoders reach; ``--gpu-table --smoke`` runs its code on the CPU with one
frame of MobileSAM (a check that it works, not a figure).

Usage::

    python tools/bench.py --frames 8             # 480p DAVIS 'bear' clip (or a sample clip)
    python tools/bench.py --models mobile_sam,vit_b --frames 20 --video clip.mp4 --box 10,20,200,220
    python tools/bench.py --overhead
    python tools/bench.py --gpu-table --json out.json

Model loading is left out of both timings; the first frames' one-off costs are in both.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
try:
    import samvideo  # noqa: F401
except ImportError:  # run from a checkout without ``pip install -e .``
    sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "tools"))

import samvideo.segmenters as segmenters  # noqa: E402
from samvideo import cli  # noqa: E402
from samvideo.segmenters.families import FAMILY_OF  # noqa: E402

#: ``../shared`` next to the checkout (a git worktree one level deeper: ``../../shared``)
DAVIS = next((p / "shared" / "data" / "davis2016-train" / "bear" for p in ROOT.parents[:2]
              if (p / "shared" / "data").is_dir()), ROOT.parent / "shared" / "data"
             / "davis2016-train" / "bear")
SAMPLE = ROOT / "sample_videos" / "moving"
CACHE = Path(tempfile.gettempdir()) / "samvideo-bench"

#: Dense bf16 tensor-core peak FLOP/s by GPU name (datasheets), for --gpu-table.
PEAK_BF16 = {
    "H100 80GB HBM3": 989e12,  # SXM
    "H100 PCIe": 756e12,
    "H100 NVL": 835e12,
    "H200": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10G": 70e12,
    "RTX 4090": 165e12,
}


# --------------------------------------------------------------------------- inputs


def default_clip() -> tuple[Path, tuple[float, float, float, float]]:
    """The DAVIS 'bear' 480p clip and its first-frame box, else the 'moving' sample clip."""
    if (DAVIS / "video.mp4").exists():
        mask = cv2.imread(str(DAVIS / "masks" / "00000.png"), cv2.IMREAD_GRAYSCALE) > 0
        ys, xs = np.nonzero(mask)
        return DAVIS / "video.mp4", (xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0)
    prompts = json.loads((SAMPLE / "prompts.json").read_text())
    return SAMPLE / "video.mp4", tuple(prompts["objects"][0]["box"])


def random_checkpoint(model: str) -> Path:
    """A seeded random checkpoint of ``model`` (a ``--model`` name, or ``tiny``), made once
    into the bench's temp folder by its family's own code."""
    path = CACHE / f"{model}_random_seed0.pt"
    if not path.exists():
        from make_random_sam import save_random_checkpoint

        save_random_checkpoint(path, model, seed=0)
    return path


def open_capture(video: Path) -> cv2.VideoCapture:
    """``cv2.VideoCapture`` of ``video``; ValueError when OpenCV cannot read it."""
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise ValueError(f"cannot read video {video}")
    return cap


def resized_clip(video: Path, size: tuple[int, int], frames: int, out: Path) -> Path:
    """The first ``frames`` frames of ``video`` resized to ``size`` (W, H), as MP4."""
    cap = open_capture(video)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 24, size)
    for _ in range(frames):
        ok, bgr = cap.read()
        if not ok:
            break
        writer.write(cv2.resize(bgr, size, interpolation=cv2.INTER_LINEAR))
    writer.release()
    cap.release()
    return out


# --------------------------------------------------------------------------- (a)


def family_predictor(model: str, checkpoint: Path, device: str):
    """The family's own predictor for ``model``, loaded as its README loads it."""
    family = FAMILY_OF.get(model, "sam")
    target = "cuda" if device.startswith("cuda") else "cpu"
    if family == "sam2.1":
        from sam2.build_sam import build_sam2
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        from samvideo.segmenters.sam2 import SAM2_ARCHS

        return SAM2ImagePredictor(build_sam2(SAM2_ARCHS[model].config, str(checkpoint),
                                             device=target))
    if family == "mobile_sam":
        from mobile_sam import SamPredictor, sam_model_registry

        sam = sam_model_registry["vit_t"](checkpoint=str(checkpoint))
        sam.to(device=target)
        sam.eval()
        return SamPredictor(sam)
    from segment_anything import SamPredictor, sam_model_registry

    sam = sam_model_registry[model](checkpoint=str(checkpoint))
    sam.to(device=target)
    return SamPredictor(sam)


def plain_loop(
    video: Path, checkpoint: Path, model: str, box, frames: int, device: str, out: Path
) -> dict:
    """(a): the README loop. Returns seconds per frame and the frame count."""
    predictor = family_predictor(model, checkpoint, device)
    start = time.perf_counter()
    cap = open_capture(video)
    fps = cap.get(cv2.CAP_PROP_FPS) or 24
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    box = np.array(box, dtype=np.float32)
    done = 0
    while done < frames:
        ok, bgr = cap.read()
        if not ok:
            break
        predictor.set_image(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        masks, scores, _ = predictor.predict(box=box, multimask_output=True)
        mask = masks[int(np.argmax(scores))].astype(bool)  # SAM 2 answers float 0 / 1
        if mask.any():
            ys, xs = np.nonzero(mask)
            box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32)
        overlay = bgr.copy()
        overlay[mask] = (0.5 * overlay[mask] + 0.5 * np.array([0, 0, 255])).astype(np.uint8)
        x1, y1, x2, y2 = (int(v) for v in box)
        cv2.rectangle(overlay, (x1, y1), (x2, y2), (0, 255, 0), 2)
        writer.write(overlay)
        done += 1
    writer.release()
    cap.release()
    seconds = time.perf_counter() - start
    return {"frames": done, "s_per_frame": seconds / max(done, 1)}


# --------------------------------------------------------------------------- (b)


def samvideo_track(
    video: Path, checkpoint: Path, box, frames: int, device: str, out: Path, extra: list[str]
) -> dict:
    """(b): ``samvideo track`` in this process; returns its timings and the stage split."""
    built: list = []
    original = segmenters.build_segmenter

    def capture(model, **options):
        if device.startswith("cuda"):
            options["sync_timing"] = True  # exact per-stage times on the GPU
        segmenter = original(model, **options)
        built.append(segmenter)
        return segmenter

    argv = [
        "track",
        str(video),
        "--box",
        ",".join(f"{v:g}" for v in box),
        "--checkpoint",
        str(checkpoint),
        "--max-frames",
        str(frames),
        "-o",
        str(out),
        "--overwrite",
        "--quiet",
        "--device",
        device,
        *extra,
    ]
    log = io.StringIO()
    with (
        mock.patch.object(segmenters, "build_segmenter", capture),
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        code = cli.main(argv)
    if code != 0:
        raise RuntimeError(f"samvideo {' '.join(argv)} failed ({code}): {log.getvalue()}")
    run = json.loads((out / "run.json").read_text())
    timings = run["timings_s"]
    n = max(timings["frames"], 1)
    stages = dict(built[0].stage_seconds) if built else {}
    split = {
        "decode": timings["decode"] / n,
        "preprocess": stages.get("preprocess", 0.0) / n,
        "encoder": stages.get("encoder", 0.0) / n,
        "decoder": stages.get("decoder", 0.0) / n,
        "postprocess": stages.get("postprocess", 0.0) / n,
        "tracker_rest": max(timings["track"] - stages.get("decoder", 0.0)
                            - stages.get("postprocess", 0.0), 0.0) / n,
        "write": timings["write"] / n,
    }
    return {
        "frames": timings["frames"],
        "s_per_frame": timings["total"] / n,
        "split": split,
        "model_ms": 1000 * (split["preprocess"] + split["encoder"] + split["decoder"]),
        "tracker_ms": 1000 * (split["postprocess"] + split["tracker_rest"]),
        "io_ms": 1000 * (split["decode"] + split["write"]),
        "model": run.get("model", {}),
        "segmenter": built[0] if built else None,
    }


# --------------------------------------------------------------------------- reports


def encoder_flops(segmenter, height: int, width: int) -> int:
    """FLOPs of one frame through ``segmenter``'s image encoder (matmuls, convs, attention)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    frame = np.zeros((height, width, 3), np.uint8)
    dtype = getattr(segmenter, "_encoder_dtype", torch.float32)
    batch = segmenter.preprocess([frame]).to(dtype)
    # The math backend spells attention out as matmuls, which the counter knows.
    with (
        FlopCounterMode(display=False) as counter,
        torch.inference_mode(),
        sdpa_kernel(SDPBackend.MATH),
    ):
        segmenter.model.image_encoder(batch)
    return counter.get_total_flops()


def compare(args, video: Path, box, checkpoint: Path, model: str, work: Path) -> dict:
    """(a) then (b) on the same frames; returns both results and the ratio. (a) runs in a
    process of its own, as a user's script does: samvideo's segmenters tune the process's
    allocator (``samvideo.allocator``), which would speed it up here."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        a = pool.submit(plain_loop, video, checkpoint, model, box, args.frames, args.device,
                        work / "plain.mp4").result()
    extra = ["--precision", args.precision, "--model", model if model in FAMILY_OF else "auto"]
    if args.batch:
        extra += ["--batch", str(args.batch)]
    if args.compile:
        extra.append("--compile")
    b = samvideo_track(video, checkpoint, box, args.frames, args.device, work / "track", extra)
    return {"model": model, "plain": a, "samvideo": b,
            "ratio": a["s_per_frame"] / b["s_per_frame"]}


def print_table(results: list[dict], video: Path) -> None:
    """The per-model table: (a) and (b) seconds per frame, a / b, (b)'s split."""
    first = results[0]["samvideo"]
    print(f"clip {video} | {first['frames']} frames | samvideo on "
          f"{first['model'].get('device')} {first['model'].get('precision')}")
    print(f"{'model':<24} {'(a) plain s/f':>13} {'(b) samvideo s/f':>16} {'a/b':>6} "
          f"{'model ms':>9} {'tracker ms':>10} {'I/O ms':>7}")
    for r in results:
        b = r["samvideo"]
        print(f"{r['model']:<24} {r['plain']['s_per_frame']:13.3f} {b['s_per_frame']:16.3f} "
              f"{r['ratio']:6.2f} {b['model_ms']:9.1f} {b['tracker_ms']:10.1f} {b['io_ms']:7.1f}")
    by_name = {r["model"]: r["samvideo"]["s_per_frame"] for r in results}
    if "mobile_sam" in by_name and "vit_b" in by_name:
        print(f"MobileSAM end to end vs samvideo's vit_b: "
              f"{by_name['vit_b'] / by_name['mobile_sam']:.2f}x faster per frame")
    print("(b) per stage, s/frame (threads overlap):")
    for r in results:
        split = ", ".join(f"{k} {v:.3f}" for k, v in r["samvideo"]["split"].items())
        print(f"    {r['model']:<24} {split}")


def gpu_table(args, video: Path, box, work: Path) -> dict:
    """fps of (a) and (b) for every model at 480p and 1080p, and the encoder's % of peak.
    ``--smoke``: the same code on whatever device, one frame, MobileSAM only."""
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu (smoke)"
    peak = (
        args.peak_tflops * 1e12
        if args.peak_tflops
        else next((v for k, v in PEAK_BF16.items() if k in name), None)
    )
    rows = []
    for model in args.models:
        checkpoint = random_checkpoint(model)
        for label, size in (("480p", (854, 480)), ("1080p", (1920, 1080))):
            clip = resized_clip(video, size, args.frames, work / f"{label}.mp4")
            scale = size[0] / open_capture(video).get(cv2.CAP_PROP_FRAME_WIDTH)
            scaled = [v * scale for v in box]
            result = compare(args, clip, scaled, checkpoint, model, work)
            b = result["samvideo"]
            segmenter = b.pop("segmenter")
            flops = encoder_flops(segmenter, size[1], size[0])
            encoder_s = b["split"]["encoder"]
            rows.append(
                {
                    "model": model,
                    "size": label,
                    "plain_fps": 1 / result["plain"]["s_per_frame"],
                    "samvideo_fps": 1 / b["s_per_frame"],
                    "ratio": result["ratio"],
                    "encoder_fps": 1 / encoder_s if encoder_s else None,
                    "encoder_tflop_per_frame": flops / 1e12 if flops else None,
                    "encoder_peak_fraction": flops / encoder_s / peak
                    if peak and encoder_s and flops
                    else None,
                    "split": b["split"],
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    print(
        f"\n{name}, peak bf16 {peak / 1e12 if peak else float('nan'):.0f} TFLOP/s, "
        f"batch {args.batch or 'default'}, precision {args.precision}"
        f"{', compiled' if args.compile else ''}"
    )
    print(
        f"{'model':<24} {'size':<6} {'plain fps':>9} {'samvideo fps':>12} {'a/b':>6} "
        f"{'encoder fps':>11} {'% peak':>7}"
    )
    for r in rows:
        frac = r["encoder_peak_fraction"]
        print(
            f"{r['model']:<24} {r['size']:<6} {r['plain_fps']:9.1f} {r['samvideo_fps']:12.1f} "
            f"{r['ratio']:6.2f} {r['encoder_fps'] or float('nan'):11.1f} "
            f"{100 * frac if frac else float('nan'):6.1f}%"
        )
    return {"device": name, "peak_bf16": peak, "rows": rows}


def overhead(args) -> dict:
    """The loop around the model per object per frame (``tools/bench_overhead.py``)."""
    from bench_overhead import measure

    rows = []
    for model in args.models:
        segmenter, _ = segmenters.load_model("auto", checkpoint=random_checkpoint(model),
                                             device="cpu", precision=args.precision)
        for objects in (1, 2):
            row = {"model": model, **measure(segmenter, DAVIS, frames=args.frames,
                                             objects=objects)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\nper object per frame, single-core CPU ms (DAVIS bear, answers from the truth):")
    print(f"{'model':<18} {'objects':>7} {'model':>8} {'tracker':>8} {'(upscale)':>9} "
          f"{'(flow)':>7} {'I/O':>6} {'(draw)':>7} {'loop':>6}")
    for r in rows:
        print(f"{r['model']:<18} {r['objects']:7d} {r['model_ms']:8.1f} {r['tracker_ms']:8.1f} "
              f"{r['postprocess_ms']:9.1f} {r['flow_ms']:7.1f} {r['io_ms']:6.1f} "
              f"{r['draw_ms']:7.1f} {r['tracker_ms'] + r['io_ms']:6.1f}")
    return {"rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="clip (default: DAVIS bear, 480p)")
    parser.add_argument("--box", help="X1,Y1,X2,Y2 on the first frame (default: the clip's)")
    parser.add_argument("--models", default=None,
                        help="comma-separated --model names (default: mobile_sam, "
                             "sam2.1_hiera_tiny, sam2.1_hiera_small, vit_b)")
    parser.add_argument("--checkpoint", type=Path,
                        help="one checkpoint instead of random ones (its family's model)")
    parser.add_argument("--frames", type=int, default=10, help="frames to time (default 10)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument("--batch", type=int, default=None, help="samvideo's --batch")
    parser.add_argument("--compile", action="store_true", help="samvideo's --compile")
    parser.add_argument("--overhead", action="store_true",
                        help="the loop around the model, per object per frame")
    parser.add_argument("--gpu-table", action="store_true", help="every model x 480p/1080p")
    parser.add_argument("--smoke", action="store_true",
                        help="with --gpu-table: run its code here, 1 frame of MobileSAM")
    parser.add_argument("--peak-tflops", type=float, help="GPU bf16 peak, if not in the table")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    default_models = "mobile_sam,sam2.1_hiera_tiny,sam2.1_hiera_small,vit_b"
    if args.gpu_table:
        default_models = ",".join(FAMILY_OF)  # every model
    if args.smoke:
        default_models, args.frames = "mobile_sam", 1
    args.models = [m.strip() for m in (args.models or default_models).split(",") if m.strip()]
    unknown = [m for m in args.models if m not in FAMILY_OF and not (m == "tiny" and args.overhead)]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}: choose from {', '.join(FAMILY_OF)}")

    video, box = default_clip()
    if args.video is not None:
        if not args.box:
            parser.error("--video needs --box")
        video = args.video
    if args.box:
        box = tuple(float(v) for v in args.box.split(","))
    with tempfile.TemporaryDirectory(prefix="samvideo-bench-") as tmp:
        work = Path(tmp)
        if args.overhead:
            result = overhead(args)
        elif args.gpu_table:
            if not torch.cuda.is_available() and not args.smoke:
                parser.error("--gpu-table needs a CUDA device (or --smoke to run its code here)")
            result = gpu_table(args, video, box, work)
        else:
            results = []
            for model in args.models:
                checkpoint = args.checkpoint or random_checkpoint(model)
                results.append(compare(args, video, box, checkpoint, model, work))
                results[-1]["samvideo"].pop("segmenter")
            print_table(results, video)
            result = {"results": results}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
