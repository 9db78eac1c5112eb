"""What a batch did: a :class:`ClipRecord` per clip, the :class:`BatchReport` over them,
``batch.json`` (written atomically: ``running`` at the start, the final status last) and
the table the command prints."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from samvideo.batching.clip import ClipOutcome
from samvideo.batching.manifest import Clip
from samvideo.record import versions, write_json_atomic

BATCH_JSON = "batch.json"
METRICS = ("J", "F", "J&F")


@dataclass
class ClipRecord:
    """One clip of a batch, as the driver knows it (from its outcomes and run.json).

    ``status``: ``waiting`` (not sent yet), ``queued`` (sent), ``running``, then
    ``complete``, ``interrupted`` (stopped by Ctrl-C: running the batch again resumes
    it), ``failed`` (after every try) or ``not started``.
    """

    row: int
    name: str
    source: str
    output: str
    frames_expected: int | None = None  # what the source says the part holds
    status: str = "waiting"
    frames: int = 0  # frames done in all, earlier runs included
    frames_before: int = 0  # frames done by earlier runs when this batch took the clip
    frames_run: int = 0  # frames this batch tracked, over all tries
    seconds: float = 0.0  # this batch's wall time on the clip, over all tries
    tries: int = 0
    earlier: bool = False  # complete from an earlier run: not run again
    resumable: bool = False
    resumed_from: int | None = None
    error: str | None = None
    metrics: dict[str, float] | None = None
    notes: list[str] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)  # host:pid of each try
    model_loads: int = 0  # tries that built their worker's model (its first clip)
    live_frames: int = 0  # frames the running try has tracked (progress only)

    @classmethod
    def of(cls, clip: Clip) -> ClipRecord:
        return cls(clip.row, clip.name, clip.source, clip.output, clip.frames)

    @property
    def fps(self) -> float | None:
        return self.frames_run / self.seconds if self.frames_run and self.seconds else None

    def take(self, outcome: ClipOutcome) -> None:
        """Add one finished try."""
        self.status, self.frames = outcome.status, outcome.frames
        if self.tries == 1 or outcome.earlier:
            self.frames_before = outcome.frames - outcome.frames_run
        self.frames_run += outcome.frames_run
        self.seconds += outcome.seconds
        self.earlier = outcome.earlier
        self.resumable, self.resumed_from = outcome.resumable, outcome.resumed_from
        self.error = outcome.error
        self.metrics = outcome.metrics
        self.notes = list(outcome.notes)
        self.model_loads += int(outcome.model_loaded)
        self.live_frames = 0
        if outcome.earlier:  # looked at, not run: no try spent
            self.tries = 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("live_frames")
        data["fps"] = self.fps
        return data


@dataclass
class BatchReport:
    """A batch run: options, engine, every clip, the bad rows; ``batch.json``'s content."""

    manifest: str
    output: Path
    options: dict[str, Any]
    clips: list[ClipRecord]
    bad_rows: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"  # then complete / interrupted / failed
    engine: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    dataset_files: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    wall_s: float = 0.0

    @property
    def batch_json(self) -> Path:
        return Path(self.output) / BATCH_JSON

    def counts(self) -> Counter:
        return Counter(c.status for c in self.clips)

    def means(self) -> dict[str, float] | None:
        """J, F and J&F averaged over the clips that have them (None: no ground truth)."""
        scored = [c.metrics for c in self.clips if c.metrics]
        if not scored:
            return None
        return {k: sum(m[k] for m in scored) / len(scored) for k in METRICS}

    def frames_per_second(self) -> float | None:
        """Frames this batch tracked per second of its wall time, over all workers."""
        frames = sum(c.frames_run for c in self.clips)
        return frames / self.wall_s if frames and self.wall_s else None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status, "error": self.error, "manifest": self.manifest,
            "output": str(self.output), "started": self.started, "wall_s": self.wall_s,
            "counts": dict(self.counts()), "frames_run": sum(c.frames_run for c in self.clips),
            "frames_per_second": self.frames_per_second(), "mean": self.means(),
            "engine": self.engine, "options": self.options, "dataset_files": self.dataset_files,
            "clips": [c.to_json() for c in self.clips], "bad_rows": self.bad_rows,
            "versions": versions(),
        }

    def write(self) -> Path:
        """Write ``batch.json`` under a temporary name, then rename it into place."""
        write_json_atomic(self.batch_json, self.to_json())
        return self.batch_json

    def format_table(self) -> str:
        """Per clip: status, frames, fps, tries, J / F / J&F (where the manifest gave
        ground truth); then the mean. Plain text, one clip a line."""
        scored = any(c.metrics for c in self.clips)
        width = max([4, *(len(c.name) for c in self.clips)])
        head = f"{'clip':<{width}}  {'status':<11} {'frames':>6} {'fps':>6} {'tries':>5}"
        head += "".join(f" {m:>6}" for m in METRICS) if scored else ""
        lines = [head]
        for c in self.clips:
            status = "complete*" if c.earlier else c.status
            line = (f"{c.name:<{width}}  {status:<11} {c.frames:>6} {_num(c.fps, 1):>6} "
                    f"{c.tries:>5}")
            if scored:
                line += "".join(f" {_num((c.metrics or {}).get(m), 3):>6}" for m in METRICS)
            lines.append(line)
        counts = self.counts()
        done = counts.get("complete", 0)
        line = (f"{'mean' if scored else 'all':<{width}}  {f'{done}/{len(self.clips)}':<11} "
                f"{sum(c.frames for c in self.clips):>6} {_num(self.frames_per_second(), 1):>6} "
                f"{sum(c.tries for c in self.clips):>5}")
        if scored:
            means = self.means() or {}
            line += "".join(f" {_num(means.get(m), 3):>6}" for m in METRICS)
        lines.append(line)
        if any(c.earlier for c in self.clips):
            lines.append("* complete from an earlier run: not run again")
        return "\n".join(lines)


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"
