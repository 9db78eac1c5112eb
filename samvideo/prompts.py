"""User prompts: boxes and clicks per object, from the command line or a JSON file.

Coordinates are pixels of the frame the prompt belongs to; boxes are XYXY with
x2/y2 exclusive (a box of width ``x2 - x1``). Points are (x, y).

Prompts file format (``--prompts FILE.json``)::

    {"objects": [
        {"id": 1, "frame": 0, "box": [x1, y1, x2, y2], "name": "player 7",
         "points": [[x, y], ...], "neg_points": [[x, y], ...]},
        {"id": 2, "frame": 30, "box": [...]},          # an object that starts later
        {"id": 1, "frame": 50, "box": [...]}           # corrects object 1 from frame 50 on
    ]}

``name`` (optional, on any entry of an object) says what the object is; it goes to
every export. Entries of one object may not name it differently.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the video types only annotate: prompts stay importable without PyAV
    from samvideo.video import Frame, FrameRange, VideoInfo

Box = tuple[float, float, float, float]
Point = tuple[float, float]

#: what to say when no prompt was given
NO_OBJECT = ("no object to track: draw a box around it (--box X1,Y1,X2,Y2), click on it "
             "(--point X,Y), or give --prompts FILE.json or --select")


@dataclass(frozen=True)
class ObjectPrompt:
    """The user's prompt for one object on one frame.

    Attributes:
        object_id: 1..N; the id written in label maps and exports.
        box: XYXY pixels (x2, y2 exclusive) or None (points only).
        points: foreground clicks (x, y).
        neg_points: background clicks (x, y).
        frame_index: the source frame this prompt is given on (0 = first frame).
        name: what the object is ("player 7"), written to every export; None: unnamed.
    """

    object_id: int
    box: Box | None
    points: tuple[Point, ...] = ()
    neg_points: tuple[Point, ...] = ()
    frame_index: int = 0
    name: str | None = None

    def points_box(self) -> Box:
        """The box that holds every foreground point, or ``box`` when given."""
        if self.box is not None:
            return self.box
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return (min(xs), min(ys), max(xs) + 1, max(ys) + 1)


def _numbers(text: str, count: int, what: str) -> tuple[float, ...]:
    parts = text.replace(" ", "").split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != count or not all(math.isfinite(v) for v in values):
        example = "X1,Y1,X2,Y2" if count == 4 else "X,Y"
        raise ValueError(f"{what} {text!r} is not {count} numbers like {example}")
    return values


def parse_box(text: str) -> Box:
    """Parse ``"X1,Y1,X2,Y2"`` into a box; ValueError on anything else, reversed or empty."""
    box = _numbers(text, 4, "box")
    x1, y1, x2, y2 = box
    if x2 < x1 or y2 < y1:
        raise ValueError(f"box {text!r} is reversed: need X1 <= X2 and Y1 <= Y2 (XYXY pixels)")
    if x2 == x1 or y2 == y1:
        raise ValueError(f"box {text!r} is empty: zero width or height")
    return box  # type: ignore[return-value]


def parse_point(text: str) -> Point:
    """Parse ``"X,Y"`` into a point."""
    return _numbers(text, 2, "point")  # type: ignore[return-value]


def prompts_from_args(items: Sequence[tuple[str, str]]) -> list[ObjectPrompt]:
    """Build first-frame prompts from command-line items in the order given.

    Args:
        items: ``("box" | "point" | "neg_point", text)`` pairs in command-line order;
            points belong to the object of the last box before them (object 1 when
            points come before any box and there is at most one box).
    """
    boxes: list[Box] = []
    points: dict[int, list[Point]] = {}
    negs: dict[int, list[Point]] = {}
    names: dict[int, str] = {}
    n_boxes = sum(1 for kind, _ in items if kind == "box")
    for kind, text in items:
        if kind == "box":
            boxes.append(parse_box(text))
            continue
        if not boxes and n_boxes > 1:
            raise ValueError(
                f"{kind.replace('_', '-')} {text!r} comes before any --box; with several "
                "boxes, give each object's points and name after its --box"
            )
        index = max(len(boxes), 1)
        if kind == "name":
            if index in names:
                raise ValueError(f"object {index} is named twice: {names[index]!r} and "
                                 f"{text!r}")
            names[index] = check_name(text, f"--name {text!r}")
            continue
        target = points if kind == "point" else negs
        target.setdefault(index, []).append(parse_point(text))
    if not boxes and not points:
        if names:
            raise ValueError("--name names the object of a --box or --point: give one")
        return []
    ids = range(1, max(len(boxes), 1) + 1)
    return [
        ObjectPrompt(
            object_id=i,
            box=boxes[i - 1] if boxes else None,
            points=tuple(points.get(i, ())),
            neg_points=tuple(negs.get(i, ())),
            name=names.get(i),
        )
        for i in ids
    ]


def check_name(name: object, where: str) -> str:
    """An object's name: text of 1..100 characters on one line; ValueError names
    ``where``."""
    if not isinstance(name, str) or not name.strip() or len(name) > 100 \
            or any(c in name for c in "\r\n\t"):
        raise ValueError(f"{where}: a name must be 1 to 100 characters of text on one line, "
                         f"got {name!r}")
    return name.strip()


def name_objects(prompts: Sequence[ObjectPrompt], where: str = "prompts"
                 ) -> list[ObjectPrompt]:
    """Every prompt of an object carries the object's name (given on any of its entries);
    ValueError when two entries name one object differently."""
    names: dict[int, str] = {}
    for p in prompts:
        if p.name is None:
            continue
        if names.setdefault(p.object_id, p.name) != p.name:
            raise ValueError(f"{where}: object {p.object_id} is named both "
                             f"{names[p.object_id]!r} and {p.name!r}")
    return [replace(p, name=names.get(p.object_id)) for p in prompts]


def load_prompts_file(path: str | Path) -> list[ObjectPrompt]:
    """Read a prompts JSON file (format in the module docstring); ValueError names the field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"prompts file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"prompts file {str(path)!r} is not valid JSON: {exc}") from None
    objects = data.get("objects") if isinstance(data, dict) else None
    if not isinstance(objects, list) or not objects:
        raise ValueError(f"prompts file {str(path)!r}: 'objects' must be a non-empty list")
    return name_objects([prompt_from_json(obj, f"{path.name}: objects[{i}]")
                         for i, obj in enumerate(objects)], f"prompts file {path.name}")


def prompt_from_json(obj: object, where: str = "prompt") -> ObjectPrompt:
    """One object of a prompts file (``{"id", "frame", "box", "points", "neg_points"}``);
    ValueError names ``where`` and the bad field."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where} must be an object, got {obj!r}")
    unknown = set(obj) - {"id", "frame", "box", "points", "neg_points", "name"}
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
    object_id = obj.get("id", 1)
    if not isinstance(object_id, int) or isinstance(object_id, bool) or not 1 <= object_id <= 255:
        raise ValueError(f"{where}.id = {object_id!r}: must be an integer 1..255")
    frame = obj.get("frame", 0)
    if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
        raise ValueError(f"{where}.frame = {frame!r}: must be an integer >= 0")
    box = obj.get("box")
    if box is not None:
        numbers = _list_of_numbers(box, 4, f"{where}.box")
        try:
            box = parse_box(",".join(str(v) for v in numbers))
        except ValueError as exc:  # reversed or empty: say which field
            raise ValueError(f"{where}.box: {exc}") from None
    points = tuple(_point_list(obj.get("points", []), f"{where}.points"))
    negs = tuple(_point_list(obj.get("neg_points", []), f"{where}.neg_points"))
    if box is None and not points:
        raise ValueError(f"{where}: needs a 'box' or at least one of 'points'")
    name = obj.get("name")
    if name is not None:
        name = check_name(name, f"{where}.name")
    return ObjectPrompt(object_id, box, points, negs, frame, name)


def _list_of_numbers(value: object, count: int, where: str) -> list[float]:
    ok = (
        isinstance(value, list)
        and len(value) == count
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        and all(math.isfinite(v) for v in value)
    )
    if not ok:
        raise ValueError(f"{where} = {value!r}: must be a list of {count} numbers")
    return [float(v) for v in value]


def _point_list(value: object, where: str) -> Iterable[Point]:
    if not isinstance(value, list):
        raise ValueError(f"{where} = {value!r}: must be a list of [x, y] pairs")
    for i, p in enumerate(value):
        yield tuple(_list_of_numbers(p, 2, f"{where}[{i}]"))  # type: ignore[misc]


def fit_to_frame(prompt: ObjectPrompt, width: int, height: int) -> tuple[ObjectPrompt, str | None]:
    """Check a prompt against the frame size.

    A box partly outside the frame is clipped (the returned message says so); a box
    wholly outside, or a point outside, raises ValueError naming the value and the size.
    """
    note = None
    box = prompt.box
    if box is not None:
        x1, y1, x2, y2 = box
        clipped = (max(x1, 0.0), max(y1, 0.0), min(x2, float(width)), min(y2, float(height)))
        if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            raise ValueError(
                f"box {_fmt(box)} of object {prompt.object_id} lies outside the "
                f"{width}x{height} frame"
            )
        if clipped != tuple(box):
            note = (
                f"box {_fmt(box)} of object {prompt.object_id} was clipped to the "
                f"{width}x{height} frame: {_fmt(clipped)}"
            )
        box = clipped
    for kind, pts in (("point", prompt.points), ("neg-point", prompt.neg_points)):
        for x, y in pts:
            if not (0 <= x < width and 0 <= y < height):
                raise ValueError(
                    f"{kind} {_fmt((x, y))} of object {prompt.object_id} is outside the "
                    f"{width}x{height} frame"
                )
    return replace(prompt, box=box), note


def prompt_to_json(prompt: ObjectPrompt) -> dict:
    """One object of a prompts file: what :func:`prompt_from_json` reads back."""
    obj: dict = {"id": prompt.object_id, "frame": prompt.frame_index}
    if prompt.box is not None:
        obj["box"] = [_num(v) for v in prompt.box]
    obj["points"] = [[_num(x), _num(y)] for x, y in prompt.points]
    obj["neg_points"] = [[_num(x), _num(y)] for x, y in prompt.neg_points]
    if prompt.name is not None:
        obj["name"] = prompt.name
    return obj


def prompts_to_json(prompts: Sequence[ObjectPrompt]) -> dict:
    """The content of a ``--prompts`` file holding ``prompts``."""
    return {"objects": [prompt_to_json(p) for p in prompts]}


def check_prompts(prompts: Sequence[ObjectPrompt], info: VideoInfo
                  ) -> tuple[list[ObjectPrompt], list[str]]:
    """Fit prompts to the source: boxes partly outside the frame are clipped, what lies
    outside (or on a frame past the end) is refused with a ValueError naming it.

    Returns the fitted prompts and notes for the user (e.g. a clipped box).
    """
    if not prompts:
        raise ValueError(NO_OBJECT)
    fitted, notes = [], []
    for p in prompts:
        q, note = fit_to_frame(p, info.width, info.height)
        if info.frame_count is not None and p.frame_index >= info.frame_count:
            raise ValueError(f"prompt for object {p.object_id} is on frame {p.frame_index}, "
                             f"but the source has {info.frame_count} frames")
        fitted.append(q)
        if note:
            notes.append(note)
    return fitted, notes


def click_only_notes(prompts: Sequence[ObjectPrompt], backend: str) -> list[str]:
    """What to tell the user of objects given by clicks alone: SAM takes clicks as they
    are; GrabCut (``backend`` "grabcut") guesses the object's extent around them."""
    if backend != "grabcut":
        return []
    ids = sorted({p.object_id for p in prompts if p.box is None})
    return [f"object {i} is given by clicks alone: GrabCut finds its extent around them (a "
            "--box around it is more reliable)" for i in ids]


def prompts_at_start(prompts: Sequence[ObjectPrompt], first: Frame | None,
                     frames: FrameRange) -> list[ObjectPrompt]:
    """With ``--start``: prompts on frame 0 (``--box``, ``--point``: "the first frame")
    move to the first frame tracked, ``first``; prompts of a prompts file on later frames
    keep their source frame numbers. ValueError for a start past the end, or a prompt on
    a frame before the start."""
    if first is None:
        raise ValueError(f"--start {frames.start!r} is at or past the end of the source "
                         "(or of --end): no frame to track")
    moved = []
    for p in prompts:
        if p.frame_index == 0:
            p = replace(p, frame_index=first.index)
        elif p.frame_index < first.index:
            raise ValueError(f"prompt for object {p.object_id} is on frame {p.frame_index}, "
                             f"before --start (frame {first.index}); prompt files use source "
                             "frame numbers")
        moved.append(p)
    return moved


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else float(v)


def _fmt(values: Iterable[float]) -> str:
    return ",".join(f"{v:g}" for v in values)
