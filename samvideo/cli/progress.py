"""What ``samvideo track`` shows while it runs (tqdm bars on stderr) and when it ends."""

from __future__ import annotations

import sys
from typing import Any

from samvideo.results import FrameResult


class ProgressBar:
    """tqdm progress on stderr, one update per frame: object states for a file run,
    frames processed / predicted for a live one. The bar starts with the first frame,
    so the set-up is not in its rate."""

    def __init__(self, *, live: bool = False) -> None:
        self.live = live
        self._bar: Any = None

    def update(self, result: FrameResult, run: Any) -> None:
        if self._bar is None:
            from tqdm import tqdm

            total = None if self.live else run.info.frame_count
            self._bar = tqdm(total=total, unit="frame", desc="live" if self.live else
                             "tracking", file=sys.stderr, dynamic_ncols=True)
        self._bar.update(1)
        if self.live:
            stats = run.live
            text = f"processed {stats.processed}, predicted {stats.predicted}"
        else:
            text = ",".join(f"{o.object_id}:{o.state}" for o in result.objects)
        self._bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def report(summary: Any) -> None:
    """The run's last lines on stdout: status, frames, time, the files written."""
    spf = summary.timings.per_frame()
    print(f"{summary.status}: {summary.frames} frames in {summary.timings.total:.1f} s "
          f"({spf['total']:.3f} s/frame)")
    for path in summary.outputs:
        print(f"  {path}")
    print(f"  {summary.run_json}")
