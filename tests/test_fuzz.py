"""Property-based tests (hypothesis): the argument parsers never raise anything but
ValueError / UsageError, and random byte damage to a small video never gives a traceback
or a hang through the CLI."""

from __future__ import annotations

import contextlib
import faulthandler
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samvideo.cli import UsageError, build_parser, main
from samvideo.prompts import (
    ObjectPrompt,
    fit_to_frame,
    load_prompts_file,
    parse_box,
    parse_point,
    prompts_from_args,
)
from tests.damaged import FIRST_BOX, encode_h264, gradient_frames

FAST = settings(max_examples=150, deadline=None, derandomize=True)
#: text that looks like coordinates most of the time, and like anything some of the time
NUMBER = st.one_of(st.integers(-10**6, 10**6).map(str),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.sampled_from(["", "-", ".", "1e999", "-0", "0x10", " 3", "٣", "1_000"]))
COORDS = st.one_of(st.lists(NUMBER, min_size=0, max_size=6).map(",".join), st.text(max_size=30))


@FAST
@given(COORDS)
def test_parse_box_gives_a_valid_box_or_value_error(text):
    try:
        box = parse_box(text)
    except ValueError as exc:
        assert repr(text)[:12] in str(exc)  # the message names the bad value
        return
    x1, y1, x2, y2 = box
    assert all(math.isfinite(v) for v in box) and x1 < x2 and y1 < y2


@FAST
@given(COORDS)
def test_parse_point_gives_a_point_or_value_error(text):
    try:
        x, y = parse_point(text)
    except ValueError:
        return
    assert math.isfinite(x) and math.isfinite(y)


@FAST
@given(st.lists(st.tuples(st.sampled_from(["box", "point", "neg_point"]), COORDS), max_size=6))
def test_prompts_from_args_raises_only_value_error(items):
    try:
        prompts = prompts_from_args(items)
    except ValueError:
        return
    assert [p.object_id for p in prompts] == list(range(1, len(prompts) + 1))


FINITE = st.floats(-2000, 2000, allow_nan=False)


@FAST
@given(st.tuples(FINITE, FINITE, FINITE, FINITE), st.integers(1, 1000), st.integers(1, 1000),
       st.lists(st.tuples(FINITE, FINITE), max_size=3))
def test_fit_to_frame_clips_inside_or_refuses(box, width, height, points):
    x1, y1, x2, y2 = box
    if not (x1 < x2 and y1 < y2):
        return
    try:
        fitted, _ = fit_to_frame(ObjectPrompt(1, box, tuple(points)), width, height)
    except ValueError as exc:
        assert f"{width}x{height}" in str(exc)
        return
    fx1, fy1, fx2, fy2 = fitted.box
    assert 0 <= fx1 < fx2 <= width and 0 <= fy1 < fy2 <= height


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-300, 300) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
        st.sampled_from(["objects", "id", "frame", "box", "points", "neg_points", "x"]),
        inner, max_size=5),
    max_leaves=25,
)
OBJECT = st.fixed_dictionaries({}, optional={
    "id": st.integers(-2, 300) | st.text(max_size=3),
    "frame": st.integers(-2, 10) | st.floats(),
    "box": st.lists(st.floats() | st.integers(-5, 500), max_size=5),
    "points": st.lists(st.lists(st.floats() | st.integers(-5, 500), max_size=3), max_size=3),
    "neg_points": JSON,
})


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSON, st.fixed_dictionaries({"objects": st.lists(OBJECT, max_size=3)})))
def test_prompts_file_raises_only_value_error(data):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "prompts.json"
        path.write_text(json.dumps(data))
        try:
            prompts = load_prompts_file(path)
        except ValueError as exc:
            assert "prompts.json" in str(exc)
            return
    for p in prompts:
        assert 1 <= p.object_id <= 255 and p.frame_index >= 0
        assert p.box is not None or p.points


@FAST
@given(st.lists(st.sampled_from(["--box", "--point", "--neg-point", "--export", "--timeout",
                                 "--max-frames", "--fps", "--opacity", "--model", "-o"])
                | COORDS, max_size=8))
def test_track_arguments_end_in_usage_or_value_error(tokens):
    """Random command lines against the real parser: argparse may only fail through
    UsageError (one line, exit 2); main then always answers 2 (the source is missing)."""
    with contextlib.suppress(UsageError):
        build_parser().parse_args(["track", "missing.mp4", *tokens])
    assert main(["track", "/nonexistent/clip.mp4", *tokens, "--quiet"]) == 2


# -- random damage to a real video, through the CLI -------------------------------------


@pytest.fixture(scope="module")
def small_clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("fuzz")
    frames = gradient_frames(12, width=96, height=72)
    return {
        "mp4": encode_h264(d / "a.mp4", frames, gop=4),
        "ts": encode_h264(d / "a.ts", frames, fmt="mpegts", gop=4, b_frames=True),
    }


DAMAGE = st.lists(
    st.tuples(st.sampled_from(["overwrite", "zero", "delete", "insert", "truncate"]),
              st.floats(0, 1), st.integers(1, 400), st.integers(0, 2**32 - 1)),
    min_size=1, max_size=4,
)


def damage(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for kind, where, size, seed in edits:
        at = int(where * len(out))
        junk = seed.to_bytes(4, "little") * (size // 4 + 1)
        if kind == "overwrite":
            out[at: at + size] = junk[:size]
        elif kind == "zero":
            out[at: at + size] = bytes(min(size, len(out) - at))
        elif kind == "delete":
            del out[at: at + size]
        elif kind == "insert":
            out[at:at] = junk[:size]
        else:
            del out[at:]
    return bytes(out)


#: SAMVIDEO_FUZZ_EXAMPLES=2000 explores further, with fresh random damage each time
EXAMPLES = os.environ.get("SAMVIDEO_FUZZ_EXAMPLES")


@settings(max_examples=int(EXAMPLES or 100), deadline=None, derandomize=EXAMPLES is None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["mp4", "ts"]), edits=DAMAGE)
def test_damaged_video_never_tracebacks_or_hangs(small_clips, capsys, kind, edits):
    box = ",".join(str(v * 96 // 160) for v in FIRST_BOX)
    # a real hang must not block CI: dump every thread's stack and exit
    faulthandler.dump_traceback_later(120, exit=True, file=sys.__stderr__)
    try:
        with tempfile.TemporaryDirectory() as d:
            clip = Path(d) / f"damaged.{kind}"
            clip.write_bytes(damage(small_clips[kind].read_bytes(), edits))
            t0 = time.monotonic()
            code = main(["track", str(clip), "--box", box, "--model", "grabcut", "-o",
                         str(Path(d) / "o"), "--quiet", "--export", "jsonl,davis",
                         "--timeout", "5"])
            elapsed = time.monotonic() - t0
            err = capsys.readouterr().err
            run_json = Path(d) / "o" / "run.json"
            state = json.loads(run_json.read_text()) if run_json.exists() else None
            masks = sorted(int(p.stem) for p in (Path(d) / "o" / "masks").glob("*.png"))
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert "Traceback" not in err and elapsed < 30
    assert code in (0, 2), err  # done with what decoded, or refused as not a video
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
        assert state is None or state["status"] == "failed"
        return
    assert state["status"] == "complete" and state["frames_done"] == len(masks) > 0
    assert masks == sorted(set(masks))  # one mask per source index, in order
    skipped = {s["first"] + k for s in state["skipped"] for k in range(s["count"])}
    assert not skipped & set(masks)  # a skipped frame has no mask
