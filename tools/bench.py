"""Benchmark: the plain SamPredictor loop a user writes first vs ``samvideo track``.

On the same frames of a clip, with the same SAM checkpoint (a seeded random vit_b by
default: it costs what the real one costs), it times

(a) the loop as written from SAM's README: OpenCV reads a frame, ``SamPredictor.set_image``
    + ``predict(box=previous box, multimask_output=True)``, the best mask's box becomes the
    next prompt, OpenCV draws the overlay and ``cv2.VideoWriter`` writes it;
(b) ``samvideo track`` (run in this process through ``samvideo.cli.main``, the command's
    own code), with its default exports;

and prints seconds per frame for each, the ratio a / b, and (b)'s per-stage split:
decode, preprocess, encoder, decoder, post-process, rest of the tracker, write (the
stages run in parallel threads, so they overlap; their sum is not the total).

``--gpu-table`` (needs CUDA) instead prints, for vit_b and vit_h at 480p and 1080p,
frames per second of (a) and (b) and the fraction of the GPU's peak bf16 FLOP/s that
(b)'s encoder reaches (FLOPs counted by ``torch.utils.flop_counter``).

Usage::

    python tools/bench.py                        # 480p DAVIS 'bear' clip (or a sample clip)
    python tools/bench.py --frames 20 --video clip.mp4 --box 10,20,200,220
    python tools/bench.py --gpu-table --json out.json

Model loading is left out of both timings; the first frames' one-off costs are in both.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
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

import samvideo.segmenters as segmenters  # noqa: E402
from samvideo import cli  # noqa: E402
from samvideo.segmenters.sam import SamSegmenter, load_sam  # noqa: E402

DAVIS = ROOT.parent / "shared" / "data" / "davis2016-train" / "bear"
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


def random_checkpoint(arch: str) -> Path:
    """A seeded random ``arch`` checkpoint, made once into the bench's temp folder."""
    path = CACHE / f"sam_{arch}_random_seed0.pth"
    if not path.exists():
        sys.path.insert(0, str(ROOT / "tools"))
        from make_random_sam import save_random_sam

        save_random_sam(path, arch, seed=0)
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


def plain_loop(
    video: Path, checkpoint: Path, arch: str, box, frames: int, device: str, out: Path
) -> dict:
    """(a): the README loop. Returns seconds per frame and the frame count."""
    from segment_anything import SamPredictor, sam_model_registry

    sam = sam_model_registry[arch](checkpoint=str(checkpoint))
    sam.to(device="cuda" if device.startswith("cuda") else "cpu")
    predictor = SamPredictor(sam)
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
        mask = masks[int(np.argmax(scores))]
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
    built: list[SamSegmenter] = []
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
    in_tracker = stages.get("decoder", 0.0) + stages.get("postprocess", 0.0)
    split = {
        "decode": timings["decode"] / n,
        "preprocess": stages.get("preprocess", 0.0) / n,
        "encoder": stages.get("encoder", 0.0) / n,
        "decoder": stages.get("decoder", 0.0) / n,
        "postprocess": stages.get("postprocess", 0.0) / n,
        "tracker_rest": max(timings["track"] - in_tracker, 0.0) / n,
        "write": timings["write"] / n,
    }
    return {
        "frames": timings["frames"],
        "s_per_frame": timings["total"] / n,
        "split": split,
        "model": run.get("model", {}),
        "segmenter": built[0] if built else None,
    }


# --------------------------------------------------------------------------- reports


def encoder_flops(segmenter: SamSegmenter, height: int, width: int) -> int:
    """FLOPs of one frame through ``segmenter``'s image encoder (matmuls, convs, attention)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    frame = np.zeros((height, width, 3), np.uint8)
    batch = segmenter.preprocess([frame]).to(segmenter._encoder_dtype)
    # The math backend spells attention out as matmuls, which the counter knows.
    with (
        FlopCounterMode(display=False) as counter,
        torch.inference_mode(),
        sdpa_kernel(SDPBackend.MATH),
    ):
        segmenter.model.image_encoder(batch)
    return counter.get_total_flops()


def compare(args, video: Path, box, checkpoint: Path, arch: str, work: Path) -> dict:
    """(a) then (b) on the same frames; returns both results and the ratio."""
    a = plain_loop(video, checkpoint, arch, box, args.frames, args.device, work / "plain.mp4")
    extra = ["--precision", args.precision]
    if args.batch:
        extra += ["--batch", str(args.batch)]
    if args.compile:
        extra.append("--compile")
    b = samvideo_track(video, checkpoint, box, args.frames, args.device, work / "track", extra)
    return {"plain": a, "samvideo": b, "ratio": a["s_per_frame"] / b["s_per_frame"]}


def print_compare(result: dict, video: Path, arch: str) -> None:
    a, b = result["plain"], result["samvideo"]
    model = b["model"]
    print(
        f"clip {video} | {arch} | {b['frames']} frames | samvideo: "
        f"{model.get('device')} {model.get('precision')}"
    )
    print(f"(a) plain SamPredictor loop   {a['s_per_frame']:8.3f} s/frame")
    print(f"(b) samvideo track            {b['s_per_frame']:8.3f} s/frame")
    print(f"ratio a/b                     {result['ratio']:8.2f}x")
    print("(b) per stage, s/frame (threads overlap):")
    for stage, seconds in b["split"].items():
        print(f"    {stage:<14} {seconds:8.3f}")


def gpu_table(args, video: Path, box, work: Path) -> dict:
    """fps of (a) and (b) for vit_b / vit_h at 480p and 1080p, and the encoder's % of peak."""
    name = torch.cuda.get_device_name(0)
    peak = (
        args.peak_tflops * 1e12
        if args.peak_tflops
        else next((v for k, v in PEAK_BF16.items() if k in name), None)
    )
    rows = []
    for arch in ("vit_b", "vit_h"):
        checkpoint = random_checkpoint(arch)
        for label, size in (("480p", (854, 480)), ("1080p", (1920, 1080))):
            clip = resized_clip(video, size, args.frames, work / f"{label}.mp4")
            scale = size[0] / open_capture(video).get(cv2.CAP_PROP_FRAME_WIDTH)
            scaled = [v * scale for v in box]
            result = compare(args, clip, scaled, checkpoint, arch, work)
            b = result["samvideo"]
            flops = encoder_flops(b.pop("segmenter"), size[1], size[0])
            encoder_s = b["split"]["encoder"]
            rows.append(
                {
                    "arch": arch,
                    "size": label,
                    "plain_fps": 1 / result["plain"]["s_per_frame"],
                    "samvideo_fps": 1 / b["s_per_frame"],
                    "ratio": result["ratio"],
                    "encoder_fps": 1 / encoder_s if encoder_s else None,
                    "encoder_tflop_per_frame": flops / 1e12,
                    "encoder_peak_fraction": flops / encoder_s / peak
                    if peak and encoder_s
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
        f"{'model':<6} {'size':<6} {'plain fps':>9} {'samvideo fps':>12} {'a/b':>6} "
        f"{'encoder fps':>11} {'% peak':>7}"
    )
    for r in rows:
        frac = r["encoder_peak_fraction"]
        print(
            f"{r['arch']:<6} {r['size']:<6} {r['plain_fps']:9.1f} {r['samvideo_fps']:12.1f} "
            f"{r['ratio']:6.2f} {r['encoder_fps'] or float('nan'):11.1f} "
            f"{100 * frac if frac else float('nan'):6.1f}%"
        )
    return {"device": name, "peak_bf16": peak, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="clip (default: DAVIS bear, 480p)")
    parser.add_argument("--box", help="X1,Y1,X2,Y2 on the first frame (default: the clip's)")
    parser.add_argument("--checkpoint", type=Path, help="SAM checkpoint (default: random vit_b)")
    parser.add_argument("--frames", type=int, default=10, help="frames to time (default 10)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument("--batch", type=int, default=None, help="samvideo's --batch")
    parser.add_argument("--compile", action="store_true", help="samvideo's --compile")
    parser.add_argument("--gpu-table", action="store_true", help="vit_b/vit_h x 480p/1080p")
    parser.add_argument("--peak-tflops", type=float, help="GPU bf16 peak, if not in the table")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"

    video, box = default_clip()
    if args.video is not None:
        if not args.box:
            parser.error("--video needs --box")
        video = args.video
    if args.box:
        box = tuple(float(v) for v in args.box.split(","))
    with tempfile.TemporaryDirectory(prefix="samvideo-bench-") as tmp:
        work = Path(tmp)
        if args.gpu_table:
            if not torch.cuda.is_available():
                parser.error("--gpu-table needs a CUDA device")
            result = gpu_table(args, video, box, work)
        else:
            checkpoint = args.checkpoint or random_checkpoint("vit_b")
            _, arch = load_sam(checkpoint, device="cpu")
            result = compare(args, video, box, checkpoint, arch.name, work)
            result["samvideo"].pop("segmenter")
            print_compare(result, video, arch.name)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
