"""Time ``samvideo batch`` against the loop a user would write, on the DAVIS 2016 train clips.

In one run, on the same clips (``../shared/data/davis2016-train``: 30 clips, each
tracked from the tight box of its first ground-truth mask, GrabCut, the default
exports):

* ``plain``    the loop a user writes: ``samvideo track`` per clip, one after another;
* ``local-N``  ``samvideo batch --engine local --workers N``;
* ``ray-N``    ``samvideo batch --engine ray --workers N`` (a local Ray cluster started
               for the run, as a user without a cluster gets it);

each ``samvideo batch`` worker gets its share of the cores (threads = cores / N, set by
the engines). Every figure is the wall time of the whole command (interpreter start-up,
Ray's start and stop included): clips per minute and frames per second. Ray's cost per
clip is ``(ray-N wall - local-N wall) / clips``; ``ray start`` is the part of it spent
starting the cluster (from ``batch.json``). Every configuration must write the plain
loop's masks, byte for byte, or the tool says which differ. The goals the issue set:
the best engine at least 1.3x the plain loop, Ray within 10 % of the local engine,
Ray's cost per clip under 1 s. The machine's load average is printed before and after:
timing figures on a busy machine are noisy, so compare the ratios of one run, and
``--rounds 2`` runs everything twice, the second time in the reverse order (so that a
load that grows or falls through the run favours no configuration), and reports the
mean wall time of each configuration with every round's.

    python tools/bench_batch.py [--clips 30] [--workers 1,2] [--configs plain,local,ray]
        [--rounds 1] [--davis PATH] [--out DIR] [--keep] [--json]

DAVIS 2016 is CC BY-NC 4.0: it is read where it lies; outputs go under ``--out`` (a
temporary folder by default, removed at the end unless ``--keep``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_davis import DEFAULT_DAVIS, clip_source, first_box, list_clips  # noqa: E402

CLI = [sys.executable, "-m", "samvideo.cli"]
COMMON = ["--model", "grabcut", "--quiet"]


@dataclass
class Timing:
    """One configuration over every clip (the mean of its rounds)."""

    config: str
    clips: int
    frames: int
    wall_s: float
    ray_start_s: float | None = None
    rounds_s: tuple[float, ...] = ()  # each round's wall time

    @property
    def clips_per_min(self) -> float:
        return self.clips / self.wall_s * 60

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s


def write_manifest(davis: Path, clips: list[str], path: Path) -> Path:
    """A JSON Lines manifest: each clip's source and the tight box of its first mask."""
    rows = [{"name": c, "source": str(clip_source(davis / c)),
             "box": list(first_box(davis / c / "masks"))} for c in clips]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def plain_loop(davis: Path, clips: list[str], out: Path) -> Timing:
    """``samvideo track`` per clip, one after another."""
    t0 = time.perf_counter()
    for clip in clips:
        box = ",".join(map(str, first_box(davis / clip / "masks")))
        _run([*CLI, "track", str(clip_source(davis / clip)), "--box", box, "-o",
              str(out / clip), *COMMON])
    wall = time.perf_counter() - t0
    return Timing("plain", len(clips), _frames(out, clips), wall)


def batch(manifest: Path, engine: str, workers: int, out: Path, clips: list[str]) -> Timing:
    """One ``samvideo batch`` command."""
    t0 = time.perf_counter()
    _run([*CLI, "batch", str(manifest), "-o", str(out), "--engine", engine, "--workers",
          str(workers), *COMMON])
    wall = time.perf_counter() - t0
    report = json.loads((out / "batch.json").read_text())
    if report["status"] != "complete":
        raise RuntimeError(f"{engine}-{workers}: batch {report['status']}: {report['counts']}")
    return Timing(f"{engine}-{workers}", len(clips), _frames(out, clips), wall,
                  report["engine"].get("start_s"))


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}): "
                           f"{proc.stderr.strip()[-500:]}")


def _frames(out: Path, clips: list[str]) -> int:
    return sum(json.loads((out / c / "run.json").read_text())["frames_done"] for c in clips)


def _mean(rounds: list[Timing]) -> Timing:
    walls = tuple(t.wall_s for t in rounds)
    starts = [t.ray_start_s for t in rounds if t.ray_start_s is not None]
    return Timing(rounds[0].config, rounds[0].clips, rounds[0].frames,
                  sum(walls) / len(walls), sum(starts) / len(starts) if starts else None,
                  walls)


def mask_digests(out: Path, clips: list[str]) -> dict[str, str]:
    """A digest of each clip's mask PNGs (names and bytes)."""
    digests = {}
    for clip in clips:
        h = hashlib.sha1()
        for p in sorted((out / clip / "masks").glob("*.png")):
            h.update(p.name.encode() + p.read_bytes())
        digests[clip] = h.hexdigest()
    return digests


def format_table(timings: list[Timing]) -> str:
    plain = next((t for t in timings if t.config == "plain"), None)
    local = {t.config.split("-")[1]: t for t in timings if t.config.startswith("local")}
    lines = [f"{'config':<9} {'wall s':>7} {'clips/min':>9} {'frames/s':>8} {'x plain':>7} "
             f"{'ray cost/clip s':>15} {'ray start s':>11}"]
    for t in timings:
        speedup = f"{plain.wall_s / t.wall_s:.2f}" if plain else "-"
        cost = start = "-"
        if t.config.startswith("ray"):
            match = local.get(t.config.split("-")[1])
            if match:
                cost = f"{(t.wall_s - match.wall_s) / t.clips:.2f}"
            start = f"{t.ray_start_s:.1f}" if t.ray_start_s is not None else "-"
        lines.append(f"{t.config:<9} {t.wall_s:>7.1f} {t.clips_per_min:>9.1f} {t.fps:>8.1f} "
                     f"{speedup:>7} {cost:>15} {start:>11}")
    return "\n".join(lines)


def goals(timings: list[Timing]) -> list[str]:
    """The issue's three goals, each met or not, with the figures."""
    by = {t.config: t for t in timings}
    out = []
    plain = by.get("plain")
    engines = [t for t in timings if t.config != "plain"]
    if plain and engines:
        best = min(engines, key=lambda t: t.wall_s)
        ratio = plain.wall_s / best.wall_s
        out.append(f"best engine {best.config} {ratio:.2f}x the plain loop (goal >= 1.3): "
                   f"{'met' if ratio >= 1.3 else 'NOT met'}")
    for t in timings:
        if t.config.startswith("ray") and f"local-{t.config.split('-')[1]}" in by:
            local = by[f"local-{t.config.split('-')[1]}"]
            slower = t.wall_s / local.wall_s - 1
            cost = (t.wall_s - local.wall_s) / t.clips
            out.append(f"{t.config}: {slower:+.1%} against {local.config} (goal within 10 %): "
                       f"{'met' if slower <= 0.10 else 'NOT met'}; cost per clip {cost:.2f} s "
                       f"(goal < 1 s): {'met' if cost < 1 else 'NOT met'}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--davis", type=Path, default=DEFAULT_DAVIS)
    p.add_argument("--clips", type=int, default=None, help="the first N clips (default all)")
    p.add_argument("--workers", default="1,2", help="worker counts to time (default 1,2)")
    p.add_argument("--configs", default="plain,local,ray")
    p.add_argument("--rounds", type=int, default=1,
                   help="run everything this many times, every other round backwards")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--keep", action="store_true", help="keep the outputs")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not args.davis.is_dir():
        print(f"bench_batch: {args.davis} is absent: nothing to time", file=sys.stderr)
        return 0
    clips = list_clips(args.davis, None)[: args.clips]
    configs = args.configs.split(",")
    workers = [int(w) for w in args.workers.split(",")]
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-batch-"))
    out.mkdir(parents=True, exist_ok=True)
    manifest = write_manifest(args.davis, clips, out / "clips.jsonl")
    load_before = os.getloadavg()
    plan = (["plain"] if "plain" in configs else []) + [
        f"{engine}-{n}" for n in workers for engine in ("local", "ray") if engine in configs]
    runs: dict[str, list[Timing]] = {c: [] for c in plan}
    try:
        for round_ in range(args.rounds):
            for config in plan if round_ % 2 == 0 else plan[::-1]:
                target = out / config
                shutil.rmtree(target, ignore_errors=True)  # every round from nothing
                if config == "plain":
                    runs[config].append(plain_loop(args.davis, clips, target))
                else:
                    engine, n = config.split("-")
                    runs[config].append(batch(manifest, engine, int(n), target, clips))
        timings = [_mean(runs[c]) for c in plan]
        digests = {t.config: mask_digests(out / t.config, clips) for t in timings}
        first = timings[0].config
        differ = {c: [k for k in d if d[k] != digests[first][k]] for c, d in digests.items()}
        frames = timings[0].frames
    finally:
        if not args.keep and args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    load_after = os.getloadavg()
    result = {"clips": len(clips), "frames": frames, "cores": os.cpu_count(),
              "load_before": load_before, "load_after": load_after,
              "timings": [asdict(t) | {"clips_per_min": t.clips_per_min, "fps": t.fps}
                          for t in timings],
              "masks_differ": {c: v for c, v in differ.items() if v}, "goals": goals(timings)}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{len(clips)} clips, {frames} frames, {os.cpu_count()} cores; load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(format_table(timings))
    if args.rounds > 1:
        print("rounds (wall s): " + "; ".join(
            f"{t.config} " + " / ".join(f"{w:.1f}" for w in t.rounds_s) for t in timings))
    for line in result["goals"]:
        print(line)
    bad = result["masks_differ"]
    print("masks: every configuration wrote the same masks" if not bad else
          f"masks DIFFER from {first}: {bad}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
