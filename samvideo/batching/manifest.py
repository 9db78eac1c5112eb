"""Manifests: one row per clip, as CSV or JSON Lines, every row checked before any work.

Fields (a CSV header names them; a JSON Lines row is one object per line)::

    source        a video file, a URL of one (https://…, as FFmpeg reads it: not a live
                  stream) or a folder of frames (relative: to the manifest's folder)
    box           x1,y1,x2,y2 (XYXY pixels of the first frame tracked); several boxes,
                  one object each: x1,y1,x2,y2;x1,y1,x2,y2 (JSON: a list, or a list of lists)
    points        foreground clicks of the one object: x,y;x,y (JSON: [[x, y], ...])
    neg_points    background clicks, the same way
    prompts       instead of the three above: a prompts file (``samvideo track --prompts``)
    name          the clip's name in the report (default: the source's file name, or its
                  folder's name where several sources share a file name)
    output        the clip's folder (default OUT/<name>; relative: to OUT)
    start, end    the part to track, as ``--start`` / ``--end`` (a frame number or a time)
    ground_truth  a folder of DAVIS-style mask PNGs: J, F and J&F in the report

A row is bad when a field does not parse, the source is missing or not a readable
video, a prompt lies outside the frame, two rows would write the same folder, or the
output folder holds files that are not a samvideo run. :class:`BadRow` says which row,
field and value, in one line.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samvideo.prompts import (
    ObjectPrompt,
    check_prompts,
    load_prompts_file,
    parse_box,
    parse_point,
)
from samvideo.record import short_json
from samvideo.video.info import FrameRange, Position, VideoInfo, is_url, parse_position, probe

FIELDS = ("source", "box", "points", "neg_points", "prompts", "name", "output", "start", "end",
          "ground_truth")


@dataclass(frozen=True)
class Clip:
    """One good row of a manifest: what a worker needs to track it.

    Attributes:
        row: the row's number among the manifest's rows, from 1.
        name: unique among the manifest's clips.
        source: absolute path of the video file or frames folder.
        prompts: the objects, on the first frame tracked (or a prompts file's frames).
        output: absolute path of the clip's output folder.
        start, end: the part to track (``FileOptions.start`` / ``end``), or None.
        ground_truth: absolute path of a DAVIS-style mask folder, or None.
        frames: how many frames will be tracked, when the source says (for progress).
    """

    row: int
    name: str
    source: str
    prompts: tuple[ObjectPrompt, ...]
    output: str
    start: Position | None = None
    end: Position | None = None
    ground_truth: str | None = None
    frames: int | None = None


@dataclass(frozen=True)
class BadRow:
    """A row that cannot run: its number, its line in the file, the field and the value."""

    row: int
    line: int
    field: str
    value: Any
    reason: str

    def describe(self, manifest: str | Path) -> str:
        """One line: ``clips.csv row 3 (line 4): box = "1,2,3": <reason>``."""
        return (f"{Path(manifest).name} row {self.row} (line {self.line}): {self.field} = "
                f"{short_json(self.value, 60)}: {self.reason}")


@dataclass
class Manifest:
    """A manifest read and checked: its good rows as clips, and its bad rows."""

    path: Path
    clips: list[Clip]
    bad: list[BadRow]

    def describe_bad(self) -> list[str]:
        return [b.describe(self.path) for b in self.bad]


class _Bad(ValueError):
    """A field of a row is bad (caught per row, becomes a :class:`BadRow`)."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        super().__init__(reason)
        self.field, self.value = field, value


def read_rows(path: str | Path) -> list[tuple[int, int, dict[str, Any]]]:
    """``(row, line, fields)`` of every row of a ``.csv`` or ``.jsonl`` manifest; empty
    CSV cells are left out. A JSON Lines row that is not an object comes back as
    ``{"__bad__": text}``. ValueError for a missing file, another suffix, or a CSV
    header with an unknown column or without ``source``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"manifest {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"manifest {str(path)!r} is not readable text: {exc}") from None
    if suffix == ".csv":
        return _csv_rows(path, text)
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl_rows(text)
    raise ValueError(f"manifest {str(path)!r}: give a .csv or a .jsonl file (JSON Lines: "
                     "one object per line)")


def _csv_rows(path: Path, text: str) -> list[tuple[int, int, dict[str, Any]]]:
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in FIELDS]
    if unknown or "source" not in header:
        what = f"unknown column {unknown[0]!r}" if unknown else "no 'source' column"
        raise ValueError(f"manifest {str(path)!r}: {what} (columns: {', '.join(FIELDS)})")
    reader.fieldnames = header
    rows = []
    for n, record in enumerate(reader, start=1):
        extra = record.pop(None, None)  # more cells than the header has columns
        fields = {k: v.strip() for k, v in record.items() if v is not None and v.strip()}
        if extra:
            fields["__bad__"] = ",".join(extra)
        if fields:
            rows.append((n, reader.line_num, fields))
    return rows


def _jsonl_rows(text: str) -> list[tuple[int, int, dict[str, Any]]]:
    rows = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            fields = json.loads(raw)
        except json.JSONDecodeError:
            fields = None
        rows.append((len(rows) + 1, line, fields if isinstance(fields, dict)
                     else {"__bad__": raw.strip()}))
    return rows


def load_manifest(path: str | Path, output: str | Path, *, exports: tuple[str, ...],
                  fps: Any = None, max_frames: int | None = None,
                  overwrite: bool = False) -> Manifest:
    """Read and check every row of a manifest for a batch writing under ``output``.

    Each source is probed (bad files fail here, not on a worker), each prompt checked
    against its frame, each output folder against the others and what it holds.
    ValueError for a manifest that cannot be read at all or has no rows."""
    path = Path(path)
    base, out = path.resolve().parent, Path(output).resolve()
    rows = read_rows(path)
    if not rows:
        raise ValueError(f"manifest {str(path)!r} has no rows")
    parsed: list[tuple[int, int, dict[str, Any]]] = []
    bad: list[BadRow] = []
    for row, line, fields in rows:
        try:
            parsed.append((row, line, _parse_row(fields, base, exports, fps)))
        except _Bad as exc:
            bad.append(BadRow(row, line, exc.field, exc.value, str(exc)))
    names = _names([p for _, _, p in parsed])
    clips: list[Clip] = []
    taken: dict[str, int] = {}  # output folder -> row
    named: set[str] = set()
    for (row, line, p), name in zip(parsed, names, strict=True):
        try:
            target = _output(p, name, out, overwrite)
            if str(target) in taken:
                raise _Bad("output", str(target), f"row {taken[str(target)]} writes there too")
            if name in named:
                raise _Bad("name", name, "another row has this name")
        except _Bad as exc:
            bad.append(BadRow(row, line, exc.field, exc.value, str(exc)))
            continue
        taken[str(target)] = row
        named.add(name)
        clips.append(Clip(row, name, p["source"], p["prompts"], str(target), p["start"],
                          p["end"], p["ground_truth"], _frames(p["info"], p["start"],
                                                               p["end"], max_frames)))
    return Manifest(path, clips, sorted(bad, key=lambda b: b.row))


def _parse_row(fields: dict[str, Any], base: Path, exports: tuple[str, ...],
               fps: Any) -> dict[str, Any]:
    if "__bad__" in fields:
        raise _Bad("row", fields["__bad__"], "not a JSON object with the manifest's fields"
                   if len(fields) == 1 else "more cells than the header has columns")
    unknown = [k for k in fields if k not in FIELDS]
    if unknown:
        raise _Bad(unknown[0], fields[unknown[0]],
                   f"unknown field (fields: {', '.join(FIELDS)})")
    if "source" not in fields:
        raise _Bad("source", None, "every row needs a source")
    source = fields["source"] if is_url(fields["source"]) else _path(fields, "source", base)
    try:
        info = probe(source, fps=fps)
    except ValueError as exc:
        raise _Bad("source", fields["source"], str(exc)) from None
    part = {k: _position(fields, k) for k in ("start", "end")}
    try:
        FrameRange(part["start"], part["end"])
    except ValueError as exc:
        raise _Bad("end", fields["end"], str(exc)) from None
    prompts, field = _prompts(fields, base)
    try:
        check_prompts(prompts, info)  # the frame size is the same wherever the part starts
    except ValueError as exc:
        raise _Bad(field, fields[field], str(exc)) from None
    truth = None
    if "ground_truth" in fields:
        if "davis" not in exports:
            raise _Bad("ground_truth", fields["ground_truth"],
                       "J and F are read from the masks/ PNGs: keep davis in --export")
        truth = _path(fields, "ground_truth", base)
        if not _holds_png(truth) and not _holds_png(truth / "masks"):
            raise _Bad("ground_truth", fields["ground_truth"], "no mask PNGs in that folder")
    name = fields.get("name")
    if name is not None and (not isinstance(name, str) or name in (".", "..")
                             or "/" in name or "\\" in name):
        raise _Bad("name", name, "give a plain folder name")
    return {"source": str(source), "info": info, "prompts": tuple(prompts), "name": name,
            "output": fields.get("output"), "ground_truth": None if truth is None
            else str(truth), **part}


def _path(fields: dict[str, Any], key: str, base: Path) -> Path:
    value = fields[key]
    if not isinstance(value, str) or not value:
        raise _Bad(key, value, "give a path")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _position(fields: dict[str, Any], key: str) -> Position | None:
    if key not in fields or fields[key] is None:
        return None
    try:
        return parse_position(fields[key], key)
    except ValueError as exc:
        raise _Bad(key, fields[key], str(exc)) from None


def _prompts(fields: dict[str, Any], base: Path) -> tuple[list[ObjectPrompt], str]:
    """The row's prompts and the field they came from (for a bad row's message)."""
    from samvideo.api import build_prompts

    given = [k for k in ("box", "points", "neg_points") if fields.get(k) is not None]
    if "prompts" in fields:
        if given:
            raise _Bad(given[0], fields[given[0]], "give box / points or a prompts file, "
                       "not both")
        try:
            return load_prompts_file(_path(fields, "prompts", base)), "prompts"
        except ValueError as exc:
            raise _Bad("prompts", fields["prompts"], str(exc)) from None
    if not given:
        raise _Bad("box", None, "every row needs a box, points or a prompts file")
    values = {}
    for key in given:
        try:
            values[key] = _numbers(fields[key], 4 if key == "box" else 2)
        except ValueError as exc:
            raise _Bad(key, fields[key], str(exc)) from None
    try:
        prompts = build_prompts(values.get("box"), values.get("points"),
                                values.get("neg_points"))
    except ValueError as exc:
        raise _Bad(given[0], fields[given[0]], str(exc)) from None
    return prompts, given[0]


def _numbers(value: Any, count: int) -> list:
    """A box (count 4) or points (count 2) field: text ``a,b;c,d`` or JSON lists."""
    parse = parse_box if count == 4 else parse_point
    if isinstance(value, str):
        items = [parse(part) for part in value.split(";") if part.strip()]
    elif isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        items = [parse(",".join(str(x) for x in v)) for v in value]
    elif isinstance(value, list):
        items = [parse(",".join(str(x) for x in value))]
    else:
        raise ValueError("give numbers like " + ("x1,y1,x2,y2" if count == 4 else "x,y"))
    if not items:
        raise ValueError("no value")
    return [list(v) for v in items]


def _holds_png(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix.lower() == ".png" for p in folder.iterdir())


def _names(parsed: list[dict[str, Any]]) -> list[str]:
    """Each row's name: given, else the source's file name without its suffix, else (where
    several rows share that) its folder's name, else that with ``-<n>`` appended."""
    stems = Counter(Path(p["source"]).stem for p in parsed if p["name"] is None)
    names = []
    for p in parsed:
        source = Path(p["source"])
        names.append(p["name"] or (source.stem if stems[source.stem] == 1 else
                                   source.parent.name or source.stem))
    counts = Counter(names)
    seen: Counter = Counter()
    for i, (p, name) in enumerate(zip(parsed, names, strict=True)):
        if counts[name] > 1 and p["name"] is None:
            seen[name] += 1
            names[i] = f"{name}-{seen[name]}"
    return names


def _output(parsed: dict[str, Any], name: str, out: Path, overwrite: bool) -> Path:
    """The clip's folder; refused when it holds files that are not a samvideo run."""
    given = parsed["output"]
    if given is not None and (not isinstance(given, str) or not given):
        raise _Bad("output", given, "give a folder")
    if given:
        target = (Path(given) if Path(given).is_absolute() else out / given).resolve()
    else:
        target = (out / name).resolve()
    if target == out:
        raise _Bad("output", given, "the batch's own folder (batch.json is there)")
    if target.exists() and not target.is_dir():
        raise _Bad("output", given or str(target), "exists and is not a folder")
    if (not overwrite and target.is_dir() and not (target / "run.json").is_file()
            and any(target.iterdir())):
        raise _Bad("output", given or str(target), "holds files but no samvideo run.json: "
                   "give another output (or --overwrite)")
    return target


def _frames(info: VideoInfo, start: Position | None, end: Position | None,
            max_frames: int | None) -> int | None:
    """Frames the run will track, when the source says how many it has."""
    if info.frame_count is None:
        return None

    def index(p: Position) -> int:
        return p if isinstance(p, int) else int(round(p * float(info.rate)))

    first = 0 if start is None else index(start)
    last = info.frame_count if end is None else min(info.frame_count, index(end))
    count = max(0, last - first)
    return count if max_frames is None else min(count, max_frames)
