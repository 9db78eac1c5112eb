"""Generate the small synthetic clips under ``sample_videos/`` with exact ground truth.

Every clip is 320x240 RGB at 24 fps, rendered with hard edges so that the ground-truth mask is
exactly the set of pixels drawn for each object, and is fully determined by a seeded numpy RNG.
``moving`` (48 frames) is the basic tracking case: one textured, irregular orange-red blob glides
along a gently curved path, turning slightly and growing by about a quarter, over a textured
green-grey background; a tracker should follow it on every frame. ``occlusion`` (64 frames) is the
lost / re-acquired case: the same kind of blob moves left to right behind a full-height panel
textured like the background, which hides it completely on frames 25..34 inclusive (empty ground
truth) and partially while it enters and leaves; a tracker should report the object lost there
and pick it up again after. ``two_objects`` (48 frames) is the multi-object case: an orange-red
blob (id 1) and a blue-violet blob (id 2) cross the frame in opposite directions and pass close
to each other near the middle, where object 2 (in front) briefly covers a small part of object 1;
ids must not be swapped. Each clip folder holds ``video.mp4`` (H.264, yuv420p, exactly N frames),
``masks/00000.png``... (indexed PNGs, DAVIS palette, pixel value = object id) and
``prompts.json`` (frame-0 tight XYXY box, x2/y2 exclusive, and one interior foreground point per
object). Run ``python tools/make_sample_videos.py [--out sample_videos]``.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

WIDTH = 320
HEIGHT = 240
FPS = Fraction(24, 1)
X264_OPTIONS = {"crf": "18", "preset": "medium"}
SEED = 20240607

# Occlusion clip: the object is fully hidden on these frames (inclusive).
HIDDEN_FIRST = 25
HIDDEN_LAST = 34

RGB = tuple[int, int, int]


# --------------------------------------------------------------------------------------------
# Palette and small helpers
# --------------------------------------------------------------------------------------------


def davis_palette() -> list[int]:
    """Return the 256-entry DAVIS / PASCAL VOC palette as a flat ``[r, g, b, ...]`` list."""
    palette: list[int] = []
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette.extend((r, g, b))
    return palette


def smooth_noise(
    rng: np.random.Generator, grid: tuple[int, int], size: tuple[int, int], channels: int = 3
) -> np.ndarray:
    """Low-frequency noise: a coarse normal grid upsampled bicubically.

    Returns float32 ``(size[0], size[1], channels)``, roughly unit standard deviation.
    """
    coarse = rng.standard_normal((grid[0], grid[1], channels)).astype(np.float32)
    fine = cv2.resize(coarse, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
    return fine.reshape(size[0], size[1], channels)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Round and clip a float image to uint8."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def tight_box(mask: np.ndarray) -> list[int]:
    """Tight XYXY pixel box of a non-empty (H, W) bool mask; x2 / y2 exclusive (max + 1)."""
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def interior_point(mask: np.ndarray) -> list[int]:
    """``[x, y]`` of the mask pixel farthest from the background (first one on ties)."""
    padded = np.pad(mask.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return [int(x), int(y)]


# --------------------------------------------------------------------------------------------
# Scene elements
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    """An irregular textured object: an ellipse whose radius is modulated by a few harmonics.

    ``texture`` is ``(S, S, 3)`` uint8 RGB in object-local pixels, centred at ``S / 2``.
    """

    semi_axes: tuple[float, float]
    harmonics: tuple[tuple[int, float, float], ...]  # (order, relative amplitude, phase)
    texture: np.ndarray


@dataclass(frozen=True)
class Pose:
    """Object centre (pixels), isotropic scale and rotation (radians, image x towards y)."""

    cx: float
    cy: float
    scale: float
    angle: float


def make_texture(rng: np.random.Generator, size: int, base: RGB, accent: RGB) -> np.ndarray:
    """Object texture: base colour, blotches, stripes and spots of an accent colour, fine grain."""
    base_arr = np.array(base, np.float32)
    accent_arr = np.array(accent, np.float32)
    image = base_arr + 14.0 * smooth_noise(rng, (5, 5), (size, size), 1)
    image += 6.0 * smooth_noise(rng, (5, 5), (size, size))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    direction = rng.uniform(0.0, math.pi)
    period = rng.uniform(9.0, 13.0)
    phase = (xx * math.cos(direction) + yy * math.sin(direction)) * (2 * math.pi / period)
    stripes = 0.5 + 0.5 * np.sin(phase)
    image += (accent_arr - base_arr) * (0.45 * stripes[..., None] ** 3)
    spots = np.zeros((size, size), np.uint8)
    for _ in range(size // 6):
        centre = (int(rng.integers(0, size)), int(rng.integers(0, size)))
        cv2.circle(spots, centre, int(rng.integers(2, 5)), 255, -1, cv2.LINE_AA)
    image += (accent_arr - base_arr) * (0.8 * spots[..., None].astype(np.float32) / 255.0)
    image += 4.0 * rng.standard_normal(image.shape).astype(np.float32)
    return to_uint8(cv2.GaussianBlur(image, (3, 3), 0.6))


def make_blob(
    rng: np.random.Generator, semi_axes: tuple[float, float], base: RGB, accent: RGB, wobble: float
) -> Blob:
    """A blob with random harmonics of orders 2..5, each up to ``wobble`` relative amplitude."""
    harmonics = tuple(
        (
            order,
            float(rng.uniform(0.35, 1.0) * wobble / (order - 1)),
            float(rng.uniform(0.0, 2 * math.pi)),
        )
        for order in range(2, 6)
    )
    size = int(2 * math.ceil(max(semi_axes) * 1.6)) + 8
    return Blob(semi_axes, harmonics, make_texture(rng, size, base, accent))


def local_coords(pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """Object-local coordinates ``(u, v)`` of every frame pixel centre, float32 ``(H, W)``."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    dx, dy = xx - pose.cx, yy - pose.cy
    cos_a, sin_a = math.cos(pose.angle), math.sin(pose.angle)
    u = (cos_a * dx + sin_a * dy) / pose.scale
    v = (-sin_a * dx + cos_a * dy) / pose.scale
    return u, v


def blob_mask(blob: Blob, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Hard-edged (H, W) bool mask of the blob at local coordinates ``(u, v)``."""
    a, b = blob.semi_axes
    nu, nv = u / a, v / b
    rho = np.hypot(nu, nv)
    theta = np.arctan2(nv, nu)
    radius = np.ones_like(rho)
    for order, amplitude, phase in blob.harmonics:
        radius += amplitude * np.cos(order * theta + phase)
    return rho <= radius


def blob_pixels(blob: Blob, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The blob's texture sampled (bilinear) at local coordinates: (H, W, 3) uint8 RGB."""
    half = blob.texture.shape[0] / 2.0
    map_x = (u + half - 0.5).astype(np.float32)
    map_y = (v + half - 0.5).astype(np.float32)
    return cv2.remap(
        blob.texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


def make_background(rng: np.random.Generator) -> np.ndarray:
    """Textured static background: green-grey-tan colour noise, tiles, soft shapes, grain.

    Returns (H, W, 3) uint8 RGB.
    """
    size = (HEIGHT, WIDTH)
    lum = 20.0 * smooth_noise(rng, (4, 5), size, 1) + 8.0 * smooth_noise(rng, (9, 12), size, 1)
    lum += 5.0 * smooth_noise(rng, (30, 40), size, 1)
    tan = smooth_noise(rng, (3, 4), size, 1) * np.array((12.0, 2.0, -12.0), np.float32)
    teal = smooth_noise(rng, (3, 4), size, 1) * np.array((-8.0, 8.0, 6.0), np.float32)
    image = np.array((108, 126, 100), np.float32) + lum + tan + teal
    shapes = np.zeros(size, np.float32)
    for _ in range(7):
        x, y = int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))
        w, h = int(rng.integers(20, 70)), int(rng.integers(15, 50))
        cv2.rectangle(shapes, (x, y), (x + w, y + h), float(rng.choice([-1.0, 1.0])), -1)
    image += 14.0 * cv2.GaussianBlur(shapes, (0, 0), 2.0)[..., None]
    tiles = np.zeros(size, np.float32)
    for x in range(18, WIDTH, 46):
        cv2.line(tiles, (x, 0), (x + 12, HEIGHT - 1), 1.0, 1, cv2.LINE_AA)
    for y in range(30, HEIGHT, 52):
        cv2.line(tiles, (0, y), (WIDTH - 1, y - 8), 1.0, 1, cv2.LINE_AA)
    image -= 28.0 * tiles[..., None]
    image += 3.0 * rng.standard_normal(image.shape).astype(np.float32)
    return to_uint8(image)


def make_panel(rng: np.random.Generator, x1: int, x2: int) -> tuple[np.ndarray, np.ndarray]:
    """Full-height occluding panel over columns ``[x1, x2)``, textured in background colours.

    Returns ``(mask (H, W) bool, pixels (H, W, 3) uint8 RGB)``.
    """
    width = x2 - x1
    grain = smooth_noise(rng, (3, max(2, width // 6)), (HEIGHT, width), 1)
    image = np.array((118, 122, 100), np.float32) + 14.0 * grain
    image += smooth_noise(rng, (3, 2), (HEIGHT, width), 1) * np.array((8.0, 2.0, -8.0), np.float32)
    image += 5.0 * smooth_noise(rng, (40, max(2, width // 3)), (HEIGHT, width), 1)
    for x in range(5, width - 4, 11):
        image[:, x] -= 18.0
    image[:, :2] -= 30.0
    image[:, -2:] -= 30.0
    image += 3.0 * rng.standard_normal(image.shape).astype(np.float32)
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[:, x1:x2] = True
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[:, x1:x2] = to_uint8(image)
    return mask, pixels


# --------------------------------------------------------------------------------------------
# Motion
# --------------------------------------------------------------------------------------------


def path_poses(
    n_frames: int,
    start: tuple[float, float],
    end: tuple[float, float],
    bend: float,
    scales: tuple[float, float],
    angles: tuple[float, float],
) -> list[Pose]:
    """Smooth poses along a gently curved path from ``start`` to ``end`` (centres, pixels).

    ``bend`` is the sideways bulge (pixels) at mid-path; scale and angle change linearly.
    """
    sx, sy = start
    ex, ey = end
    length = math.hypot(ex - sx, ey - sy)
    nx, ny = -(ey - sy) / length, (ex - sx) / length
    poses = []
    for i in range(n_frames):
        t = i / (n_frames - 1)
        offset = bend * math.sin(math.pi * t)
        poses.append(
            Pose(
                cx=sx + (ex - sx) * t + nx * offset,
                cy=sy + (ey - sy) * t + ny * offset,
                scale=scales[0] + (scales[1] - scales[0]) * t,
                angle=angles[0] + (angles[1] - angles[0]) * t,
            )
        )
    return poses


# --------------------------------------------------------------------------------------------
# Clips
# --------------------------------------------------------------------------------------------


@dataclass
class Clip:
    """Rendered clip: RGB frames (H, W, 3) uint8 and label maps (H, W) uint8 (0 = background)."""

    frames: list[np.ndarray]
    labels: list[np.ndarray]
    object_ids: list[int]


def render(
    background: np.ndarray,
    blobs: Sequence[tuple[int, Blob, Pose]],
    occluder: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Paint blobs back to front, then the occluder; return ``(frame RGB, label map)``."""
    frame = background.copy()
    labels = np.zeros((HEIGHT, WIDTH), np.uint8)
    for object_id, blob, pose in blobs:
        u, v = local_coords(pose)
        mask = blob_mask(blob, u, v)
        frame[mask] = blob_pixels(blob, u, v)[mask]
        labels[mask] = object_id
    if occluder is not None:
        occ_mask, occ_pixels = occluder
        frame[occ_mask] = occ_pixels[occ_mask]
        labels[occ_mask] = 0
    return frame, labels


def orange_blob(rng: np.random.Generator, semi_axes: tuple[float, float]) -> Blob:
    """Object 1's look: orange-red with dark red stripes and spots."""
    return make_blob(rng, semi_axes, base=(214, 104, 52), accent=(150, 36, 30), wobble=0.16)


def blue_blob(rng: np.random.Generator, semi_axes: tuple[float, float]) -> Blob:
    """Object 2's look: blue-violet with pale lilac stripes and spots."""
    return make_blob(rng, semi_axes, base=(72, 84, 196), accent=(176, 160, 232), wobble=0.22)


def make_moving(rng: np.random.Generator) -> Clip:
    """One blob on a gently curved path, slowly turning and growing, 48 frames."""
    background = make_background(rng)
    blob = orange_blob(rng, (30.0, 20.0))
    poses = path_poses(
        48, (62.0, 150.0), (252.0, 112.0), bend=-34.0, scales=(0.9, 1.15), angles=(-0.15, 0.3)
    )
    frames, labels = zip(*(render(background, [(1, blob, pose)]) for pose in poses), strict=True)
    return Clip(list(frames), list(labels), [1])


def occlusion_panel_columns(masks: Sequence[np.ndarray]) -> tuple[int, int]:
    """Columns ``[x1, x2)`` of the narrowest full-height panel hiding the hidden-range masks."""
    hidden = masks[HIDDEN_FIRST : HIDDEN_LAST + 1]
    x1 = min(tight_box(mask)[0] for mask in hidden)
    x2 = max(tight_box(mask)[2] for mask in hidden)
    return x1, x2


def make_occlusion(rng: np.random.Generator) -> Clip:
    """One blob moving left to right behind a panel that hides it on frames 25..34, 64 frames."""
    background = make_background(rng)
    blob = orange_blob(rng, (26.0, 19.0))
    poses = path_poses(
        64, (40.0, 108.0), (282.0, 132.0), bend=22.0, scales=(0.95, 1.08), angles=(0.1, -0.2)
    )
    bare = [blob_mask(blob, *local_coords(pose)) for pose in poses]
    x1, x2 = occlusion_panel_columns(bare)
    panel = make_panel(rng, x1, x2)
    frames, labels = zip(
        *(render(background, [(1, blob, pose)], panel) for pose in poses), strict=True
    )
    empty = [i for i, label in enumerate(labels) if not label.any()]
    if empty != list(range(HIDDEN_FIRST, HIDDEN_LAST + 1)):
        raise RuntimeError(f"occlusion clip: empty frames {empty}, expected 25..34")
    return Clip(list(frames), list(labels), [1])


def make_two_objects(rng: np.random.Generator) -> Clip:
    """Two blobs crossing in opposite directions, passing close near the middle, 48 frames."""
    background = make_background(rng)
    first = orange_blob(rng, (27.0, 18.0))
    second = blue_blob(rng, (22.0, 20.0))
    poses_1 = path_poses(
        48, (48.0, 80.0), (272.0, 110.0), bend=9.0, scales=(0.95, 1.1), angles=(0.2, 0.5)
    )
    poses_2 = path_poses(
        48, (270.0, 170.0), (52.0, 150.0), bend=18.0, scales=(1.05, 0.95), angles=(0.0, -0.6)
    )
    frames, labels = zip(
        *(
            render(background, [(1, first, p1), (2, second, p2)])
            for p1, p2 in zip(poses_1, poses_2, strict=True)
        ),
        strict=True,
    )
    return Clip(list(frames), list(labels), [1, 2])


def make_jump(rng: np.random.Generator) -> Clip:
    """A small blob crossing the frame at 22 px a frame (more than its own width) and
    bouncing back at the edges, 48 frames: the motion between two frames is many
    times the band a prior-guided cut may move."""
    background = make_background(rng)
    blob = orange_blob(rng, (14.0, 11.0))
    poses, x, step = [], 40.0, 22.0
    for i in range(48):
        poses.append(Pose(x, 120.0 + 30.0 * math.sin(i / 6.0), 1.0, 0.1 * math.sin(i / 4.0)))
        if not 30.0 <= x + step <= 290.0:
            step = -step
        x += step
    frames, labels = zip(*(render(background, [(1, blob, pose)]) for pose in poses), strict=True)
    return Clip(list(frames), list(labels), [1])


def pole_occluder(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Thin dark poles (4 px wide, every 22 px) in front of everything."""
    mask = np.zeros((HEIGHT, WIDTH), bool)
    for x in range(14, WIDTH, 22):
        mask[:, x:x + 4] = True
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    shade = 60.0 + 10.0 * smooth_noise(rng, (6, 20), (HEIGHT, WIDTH), 1)
    pixels[:] = to_uint8(np.repeat(shade, 3, axis=2) * np.array((1.0, 0.95, 0.85), np.float32))
    return mask, pixels


def make_poles(rng: np.random.Generator) -> Clip:
    """A blob passing behind a row of thin poles, which cut its mask into pieces, 48
    frames."""
    background = make_background(rng)
    blob = orange_blob(rng, (34.0, 22.0))
    poses = path_poses(
        48, (50.0, 125.0), (270.0, 110.0), bend=12.0, scales=(0.95, 1.05), angles=(0.05, -0.1)
    )
    poles = pole_occluder(rng)
    frames, labels = zip(
        *(render(background, [(1, blob, pose)], poles) for pose in poses), strict=True
    )
    return Clip(list(frames), list(labels), [1])


def make_parts(rng: np.random.Generator) -> Clip:
    """One object in two separate parts (a gap of about 20 px between them) moving
    together along a curved path, 48 frames."""
    background = make_background(rng)
    front, back = orange_blob(rng, (20.0, 16.0)), orange_blob(rng, (16.0, 14.0))
    poses = path_poses(
        48, (110.0, 150.0), (250.0, 100.0), bend=-26.0, scales=(0.95, 1.1), angles=(0.0, 0.2)
    )
    def scene(pose: Pose):
        behind = Pose(pose.cx - 58.0 * pose.scale * math.cos(pose.angle),
                      pose.cy - 58.0 * pose.scale * math.sin(pose.angle), pose.scale, pose.angle)
        return render(background, [(1, back, behind), (1, front, pose)])

    frames, labels = zip(*(scene(pose) for pose in poses), strict=True)
    return Clip(list(frames), list(labels), [1])


def make_thin(rng: np.random.Generator) -> Clip:
    """A thin object (a stick 5 px thick and 110 px long) turning as it moves, 48
    frames: boundaries a cut on a coarse grid cannot keep."""
    background = make_background(rng)
    stick = make_blob(rng, (55.0, 2.6), base=(214, 104, 52), accent=(150, 36, 30), wobble=0.0)
    poses = path_poses(
        48, (90.0, 150.0), (220.0, 100.0), bend=-20.0, scales=(1.0, 1.0), angles=(-0.5, 0.4)
    )
    frames, labels = zip(*(render(background, [(1, stick, pose)]) for pose in poses), strict=True)
    return Clip(list(frames), list(labels), [1])


def make_enter(rng: np.random.Generator) -> Clip:
    """A blob coming into view over the frame's right edge at 5 px a frame, 48 frames:
    the first frame shows a strip 4 px wide of it: the size and looks known at first
    are a part's."""
    background = make_background(rng)
    blob = orange_blob(rng, (34.0, 24.0))
    poses = path_poses(
        48, (WIDTH + 28.0, 130.0), (WIDTH - 207.0, 112.0), bend=8.0, scales=(1.0, 1.0),
        angles=(0.0, 0.1)
    )
    frames, labels = zip(*(render(background, [(1, blob, pose)]) for pose in poses), strict=True)
    return Clip(list(frames), list(labels), [1])


CLIPS: dict[str, Callable[[np.random.Generator], Clip]] = {
    "moving": make_moving,
    "occlusion": make_occlusion,
    "two_objects": make_two_objects,
}
#: clips of the tracking policy's hard cases, for tests and tools (not committed: the
#: tests generate them)
HARD_CLIPS: dict[str, Callable[[np.random.Generator], Clip]] = {
    "jump": make_jump,
    "poles": make_poles,
    "parts": make_parts,
    "thin": make_thin,
    "enter": make_enter,
}


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def write_video(path: Path, frames: Sequence[np.ndarray], rate: Fraction = FPS) -> None:
    """Write RGB uint8 frames as H.264 yuv420p MP4 with pts 0..N-1 in units of 1 / rate."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate, options=dict(X264_OPTIONS))
        stream.width = frames[0].shape[1]
        stream.height = frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = 1 / rate
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = index
            frame.time_base = 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_masks(folder: Path, labels: Sequence[np.ndarray]) -> None:
    """Write one indexed PNG (DAVIS palette, value = object id) per frame: 00000.png, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    palette = davis_palette()
    for index, label in enumerate(labels):
        image = Image.fromarray(np.ascontiguousarray(label, dtype=np.uint8))
        image.putpalette(palette)
        image.save(folder / f"{index:05d}.png", optimize=True)


def first_frame_prompts(label: np.ndarray, object_ids: Sequence[int]) -> dict:
    """samvideo prompts for frame 0: tight box and one interior foreground point per object."""
    objects = []
    for object_id in object_ids:
        mask = label == object_id
        objects.append(
            {
                "id": object_id,
                "frame": 0,
                "box": tight_box(mask),
                "points": [interior_point(mask)],
                "neg_points": [],
            }
        )
    return {"objects": objects}


def prompts_json(prompts: dict) -> str:
    """Format prompts as JSON with one object per line."""
    lines = ",\n".join(f"    {json.dumps(obj)}" for obj in prompts["objects"])
    return f'{{\n  "objects": [\n{lines}\n  ]\n}}\n'


def write_clip(folder: Path, clip: Clip, video: bool = True) -> None:
    """Write ``video.mp4`` (unless ``video`` is false), ``masks/`` and ``prompts.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    if video:
        write_video(folder / "video.mp4", clip.frames)
    write_masks(folder / "masks", clip.labels)
    prompts = first_frame_prompts(clip.labels[0], clip.object_ids)
    (folder / "prompts.json").write_text(prompts_json(prompts))


def generate(out: Path, names: Sequence[str] = tuple(CLIPS), video: bool = True) -> None:
    """Generate the named clips (of :data:`CLIPS` and :data:`HARD_CLIPS`) under ``out``;
    each clip has its own seeded RNG."""
    makers = {**CLIPS, **HARD_CLIPS}
    unknown = sorted(set(names) - set(makers))
    if unknown:
        raise ValueError(f"unknown clip(s) {', '.join(unknown)}: choose from {', '.join(makers)}")
    for offset, name in enumerate(makers):
        if name in names:
            rng = np.random.default_rng(SEED + offset)
            write_clip(out / name, makers[name](rng), video=video)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("sample_videos"),
        help="output folder (default: sample_videos)",
    )
    parser.add_argument(
        "--clips",
        nargs="+",
        choices=sorted({*CLIPS, *HARD_CLIPS}),
        default=list(CLIPS),
        help="which clips to generate (default: the committed ones; also: "
        + ", ".join(HARD_CLIPS) + ")",
    )
    parser.add_argument(
        "--no-video", action="store_true", help="write only masks/ and prompts.json"
    )
    args = parser.parse_args(argv)
    generate(args.out, args.clips, video=not args.no_video)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
