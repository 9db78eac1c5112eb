"""What ``samvideo track`` shows while it runs (tqdm bars on stderr) and when it ends."""

from __future__ import annotations

import sys
from typing import Any

from samvideo.results import FrameResult


class ProgressBar:
    """tqdm progress on stderr, one update per frame: object states for a file run,
    frames processed / predicted for a live one. The bar starts with the first frame,
    so the set-up is not in its rate; its total is the frames the run tracks (the part
    ``--start`` / ``--end`` / ``--max-frames`` give), and a resumed run's bar starts at
    the frames done before."""

    def __init__(self, *, live: bool = False) -> None:
        self.live = live
        self._bar: Any = None
        self._back: Any = None

    def backward(self, done: int, total: int) -> None:
        """The backward pass (``--direction backward|both``), before the frames go out."""
        if self._back is None:
            from tqdm import tqdm

            self._back = tqdm(total=total, unit="frame", desc="tracking backwards",
                              file=sys.stderr, dynamic_ncols=True)
        self._back.update(done - self._back.n)
        if done >= total:
            self._back.close()

    def update(self, result: FrameResult, run: Any) -> None:
        if self._bar is None:
            from tqdm import tqdm

            total = None if self.live else run.expected_frames
            self._bar = tqdm(total=total, initial=0 if self.live else run.frames_before,
                             unit="frame", desc="live" if self.live else "tracking",
                             file=sys.stderr, dynamic_ncols=True)
        self._bar.update(1)
        if self.live:
            stats = run.live
            text = f"processed {stats.processed}, predicted {stats.predicted}"
        else:
            text = ",".join(f"{o.object_id}:{o.state}" for o in result.objects)
        self._bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        for bar in (self._back, self._bar):
            if bar is not None:
                bar.close()


def resuming_line(run: Any) -> str | None:
    """``resuming from frame N`` for a run that continues an interrupted one, else None."""
    if run.resumed_from is None:
        return None
    return (f"samvideo: resuming from frame {run.resumed_from + 1} ({run.frames_before} "
            f"frame(s) done before, up to frame {run.resumed_from})")


def live_line(summary: Any) -> str:
    """A live run's frames as it handled them: how many were segmented, how many only
    predicted (no time to segment them), and the segmentation rate."""
    d = summary.live.to_dict()
    fps = d["processing_fps"]
    each = d["segment_ms_mean"]
    text = (f"{summary.frames} frames in {summary.timings.total:.1f} s: "
            f"{d['frames_processed']} segmented, {d['frames_predicted_only']} predicted")
    if d["frames_idle"]:
        text += f", {d['frames_idle']} before the first prompt"
    if fps is not None:
        text += f"; segmenting {fps:.1f} frames/s"
    if each is not None:
        text += f" ({each:.0f} ms each)"
    return text


def report(summary: Any) -> None:
    """The run's last lines on stdout: status, frames, time, the files written. A resumed
    run's time is the whole run's, every process together, with this process's part."""
    here = summary.frames_here
    per_frame = summary.timings.total / here if here else 0.0
    if summary.live is not None:
        print(f"{summary.status}: {live_line(summary)}")
    elif summary.resumed_from is None:
        print(f"{summary.status}: {summary.frames} frames in {summary.timings.total:.1f} s "
              f"({per_frame:.3f} s/frame)")
    else:
        print(f"{summary.status}: {summary.frames} frames in {summary.run_s:.1f} s in all "
              f"(resumed after frame {summary.resumed_from}; this process: {here} frames in "
              f"{summary.timings.total:.1f} s, {per_frame:.3f} s/frame)")
    for path in summary.outputs:
        print(f"  {path}")
    print(f"  {summary.run_json}")
