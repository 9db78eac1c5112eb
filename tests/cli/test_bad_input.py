"""Bad input to ``samvideo track``: exit status 2, one line on stderr naming the bad value
and what is allowed, no traceback, nothing written that looks like a result.

The basics (a missing source, a 3-number box, a reversed box, a box or point outside the
frame, an unknown model or export, no prompt) are in ``test_cli.py``; this battery covers
the rest of issue 6's list.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from samvideo.cli import main
from tests.helpers import SAMPLES

CLIP = SAMPLES / "moving" / "video.mp4"  # 320x240, 48 frames
MARKER = "PWNED"  # the file a malicious checkpoint would create if it ran


class _Exec:
    """Unpickling this runs code: it creates the file named by ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (exec, (f"open({str(self.path)!r}, 'w').write('ran')",))


def _prompts(objects) -> str:
    return json.dumps({"objects": objects})


PROMPT_FILES = {
    "p_not_json": "{objects: [",
    "p_list": "[1, 2]",
    "p_empty": _prompts([]),
    "p_not_object": _prompts([5]),
    "p_path_field": _prompts([{"id": 1, "box": [10, 10, 50, 50], "mask": "/etc/passwd"}]),
    "p_id_zero": _prompts([{"id": 0, "box": [10, 10, 50, 50]}]),
    "p_id_text": _prompts([{"id": "1", "box": [10, 10, 50, 50]}]),
    "p_frame_negative": _prompts([{"id": 1, "frame": -1, "box": [10, 10, 50, 50]}]),
    "p_frame_beyond": _prompts([{"id": 1, "frame": 500, "box": [10, 10, 50, 50]}]),
    "p_box_short": _prompts([{"id": 1, "box": [1, 2, 3]}]),
    "p_box_reversed": _prompts([{"id": 1, "box": [50, 50, 10, 10]}]),
    "p_box_nan": '{"objects": [{"id": 1, "box": [NaN, 1, 30, 30]}]}',
    "p_box_huge": '{"objects": [{"id": 1, "box": [1e400, 1, 30, 30]}]}',
    "p_points_text": _prompts([{"id": 1, "box": [10, 10, 50, 50], "points": "12,20"}]),
    "p_neg_triple": _prompts([{"id": 1, "box": [10, 10, 50, 50], "neg_points": [[1, 2, 3]]}]),
    "p_nothing": _prompts([{"id": 1}]),
    "p_point_outside": _prompts([{"id": 1, "points": [[400, 10]]}]),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Every odd file the battery feeds in."""
    d = tmp_path_factory.mktemp("bad")
    paths: dict[str, Path] = {}

    def put(name: str, data: bytes | str) -> None:
        paths[name] = d / name
        if isinstance(data, str):
            paths[name].write_text(data)
        else:
            paths[name].write_bytes(data)

    put("text.mp4", "hello, I am not a video\n")
    put("empty.mp4", b"")
    put("afile", "x")
    (d / "noframes").mkdir()
    paths["noframes"] = d / "noframes"
    (d / "badframes").mkdir()
    (d / "badframes" / "00000.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    paths["badframes"] = d / "badframes"
    put("ck_empty.pth", b"")
    put("ck_junk.pth", os.urandom(4096))
    torch.save({"model": {"image_encoder.pos_embed": torch.zeros(1, 4, 4, 8)}}, d / "ck_n.pth")
    paths["ck_not_sam.pth"] = d / "ck_n.pth"
    torch.save({"w": torch.zeros(1000)}, d / "ck_full.pth")
    put("ck_truncated.pth", (d / "ck_full.pth").read_bytes()[:600])
    torch.save({"model": {"w": torch.zeros(2)}, "x": _Exec(d / MARKER)}, d / "ck_evil_zip.pth")
    paths["ck_evil_zip.pth"] = d / "ck_evil_zip.pth"
    put("ck_evil_raw.pth", pickle.dumps({"x": _Exec(d / MARKER)}, protocol=2))
    for name, text in PROMPT_FILES.items():
        put(f"{name}.json", text)
        paths[name] = d / f"{name}.json"
    paths["dir"] = d
    return paths


# (id, arguments after "track"; {clip} and {file:NAME} are filled in, what stderr must say)
CASES = [
    # sources
    ("not a video", ["{file:p_list}", "--box", "1,1,50,50"], "p_list.json' is not a video"),
    ("text named .mp4", ["{file:text.mp4}", "--box", "1,1,50,50"],
     "'{file:text.mp4}' is not a readable video"),
    ("empty file", ["{file:empty.mp4}", "--box", "1,1,50,50"], "is not a readable video"),
    ("folder without frames", ["{file:noframes}", "--box", "1,1,50,50"],
     "holds no .jpg/.jpeg/.png frames"),
    ("folder with a broken frame", ["{file:badframes}", "--box", "1,1,50,50"],
     "is not a readable image"),
    ("unreadable (I/O error)", ["/proc/self/mem", "--box", "1,1,50,50"],
     "'/proc/self/mem' is not a readable video: [Errno 5] Input/output error"),
    # boxes and points
    ("box of letters", ["{clip}", "--box", "a,b,c,d"], "box 'a,b,c,d' is not 4 numbers"),
    ("box of 5 numbers", ["{clip}", "--box", "1,2,3,4,5"], "box '1,2,3,4,5' is not 4 numbers"),
    ("box with NaN", ["{clip}", "--box", "nan,1,5,5"], "box 'nan,1,5,5' is not 4 numbers"),
    ("box with inf", ["{clip}", "--box", "1,1,inf,5"], "box '1,1,inf,5' is not 4 numbers"),
    ("box empty text", ["{clip}", "--box", ""], "box '' is not 4 numbers like X1,Y1,X2,Y2"),
    ("box with semicolons", ["{clip}", "--box", "1;1;5;5"], "box '1;1;5;5' is not 4 numbers"),
    ("box zero width", ["{clip}", "--box", "5,5,5,20"], "box '5,5,5,20' is empty"),
    ("box zero height", ["{clip}", "--box", "5,9,20,9"], "box '5,9,20,9' is empty"),
    ("box reversed in x", ["{clip}", "--box", "40,5,10,20"], "box '40,5,10,20' is reversed"),
    ("box wholly outside, negative", ["{clip}", "--box", "-50,-50,-10,-10"],
     "box -50,-50,-10,-10 of object 1 lies outside the 320x240 frame"),
    ("box beyond the right edge", ["{clip}", "--box", "320,10,400,50"],
     "box 320,10,400,50 of object 1 lies outside the 320x240 frame"),
    ("point negative", ["{clip}", "--box", "1,1,50,50", "--point", "-1,5"],
     "point -1,5 of object 1 is outside the 320x240 frame"),
    ("neg-point outside", ["{clip}", "--box", "1,1,50,50", "--neg-point", "5,240"],
     "neg-point 5,240 of object 1 is outside the 320x240 frame"),
    ("point of 3 numbers", ["{clip}", "--box", "1,1,50,50", "--point", "1,2,3"],
     "point '1,2,3' is not 2 numbers like X,Y"),
    ("point before two boxes", ["{clip}", "--point", "5,5", "--box", "1,1,9,9", "--box",
                                "20,20,40,40"], "point '5,5' comes before any --box"),
    # model and checkpoint
    ("unknown model", ["{clip}", "--box", "1,1,50,50", "--model", "sam3"],
     "invalid choice: 'sam3' (choose from 'auto', 'vit_h', 'vit_l', 'vit_b', "
     "'sam2.1_hiera_tiny', 'sam2.1_hiera_small', 'sam2.1_hiera_base_plus', "
     "'sam2.1_hiera_large', 'mobile_sam', 'grabcut')"),
    ("missing checkpoint", ["{clip}", "--box", "1,1,50,50", "--model", "vit_b",
                            "--checkpoint", "{dir}/nope.pth"], "nope.pth does not exist"),
    ("checkpoint is a folder", ["{clip}", "--box", "1,1,50,50", "--checkpoint",
                                "{file:noframes}"], "is a directory, not a checkpoint file"),
    ("empty checkpoint", ["{clip}", "--box", "1,1,50,50", "--checkpoint",
                          "{file:ck_empty.pth}"], "ck_empty.pth is empty (0 bytes)"),
    ("corrupt checkpoint", ["{clip}", "--box", "1,1,50,50", "--checkpoint",
                            "{file:ck_junk.pth}"], "ck_junk.pth is not a PyTorch checkpoint"),
    ("truncated checkpoint", ["{clip}", "--box", "1,1,50,50", "--checkpoint",
                              "{file:ck_truncated.pth}"], "ck_truncated.pth is truncated"),
    ("state dict that is not SAM", ["{clip}", "--box", "1,1,50,50", "--checkpoint",
                                    "{file:ck_not_sam.pth}"], "ck_n.pth is not a SAM checkpoint"),
    ("checkpoint with grabcut", ["{clip}", "--box", "1,1,50,50", "--model", "grabcut",
                                 "--checkpoint", "{file:ck_junk.pth}"],
     "was given with --model grabcut"),
    ("pickled code (zip)", ["{clip}", "--box", "1,1,50,50", "--checkpoint",
                            "{file:ck_evil_zip.pth}"], "was refused: it holds pickled code"),
    ("pickled code (raw)", ["{clip}", "--box", "1,1,50,50", "--checkpoint",
                            "{file:ck_evil_raw.pth}"], "was refused: it holds pickled code"),
    # output folder
    ("output is a file", ["{clip}", "--box", "1,1,50,50", "-o", "{file:afile}"],
     "output '{file:afile}' exists and is not a folder"),
    ("output under a file", ["{clip}", "--box", "1,1,50,50", "-o", "{file:afile}/sub"],
     "is not writable: Not a directory"),
    ("output not creatable", ["{clip}", "--box", "1,1,50,50", "-o", "/proc/samvideo-out"],
     "output folder '/proc/samvideo-out' is not writable"),
    ("resume with nothing there", ["{clip}", "--box", "1,1,50,50", "--resume", "-o",
                                   "{file:noframes}"], "holds no run.json: nothing to resume"),
    ("resume and overwrite", ["{clip}", "--box", "1,1,50,50", "--resume", "--overwrite"],
     "give one of them"),
    # exports and other options
    ("empty export list", ["{clip}", "--box", "1,1,50,50", "--export", ","],
     "--export is empty: choose from video, davis"),
    ("unknown export among good ones", ["{clip}", "--box", "1,1,50,50", "--export",
                                        "video,VIDEO"], "unknown export format 'VIDEO'"),
    ("negative timeout", ["{clip}", "--box", "1,1,50,50", "--timeout", "-1"],
     "--timeout: '-1' must be a finite number >= 0"),
    ("zero max-frames", ["{clip}", "--box", "1,1,50,50", "--max-frames", "0"],
     "--max-frames: '0' must be at least 1"),
    ("zero fps", ["{clip}", "--box", "1,1,50,50", "--fps", "0"], "--fps: '0' must be positive"),
    ("opacity above 1", ["{clip}", "--box", "1,1,50,50", "--opacity", "2"],
     "--opacity: '2' must be within [0, 1]"),
    ("zero batch", ["{clip}", "--box", "1,1,50,50", "--batch", "0"],
     "--batch: '0' must be at least 1"),
    # prompts files: each message names the file and the field
    ("prompts missing", ["{clip}", "--prompts", "{dir}/nope.json"], "nope.json' does not exist"),
    ("prompts is a folder", ["{clip}", "--prompts", "{file:noframes}"], "is not valid JSON"),
    ("prompts not JSON", ["{clip}", "--prompts", "{file:p_not_json}"], "is not valid JSON"),
    ("prompts top-level list", ["{clip}", "--prompts", "{file:p_list}"],
     "'objects' must be a non-empty list"),
    ("prompts no objects", ["{clip}", "--prompts", "{file:p_empty}"],
     "'objects' must be a non-empty list"),
    ("prompts object is a number", ["{clip}", "--prompts", "{file:p_not_object}"],
     "objects[0] must be an object, got 5"),
    ("prompts path-like field", ["{clip}", "--prompts", "{file:p_path_field}"],
     "objects[0]: unknown field(s) ['mask']"),
    ("prompts id 0", ["{clip}", "--prompts", "{file:p_id_zero}"],
     "objects[0].id = 0: must be an integer 1..255"),
    ("prompts id as text", ["{clip}", "--prompts", "{file:p_id_text}"],
     "objects[0].id = '1': must be an integer 1..255"),
    ("prompts negative frame", ["{clip}", "--prompts", "{file:p_frame_negative}"],
     "objects[0].frame = -1: must be an integer >= 0"),
    ("prompts frame beyond the clip", ["{clip}", "--prompts", "{file:p_frame_beyond}"],
     "is on frame 500, but the source has 48 frames"),
    ("prompts box of 3", ["{clip}", "--prompts", "{file:p_box_short}"],
     "objects[0].box = [1, 2, 3]: must be a list of 4 numbers"),
    ("prompts reversed box", ["{clip}", "--prompts", "{file:p_box_reversed}"],
     "objects[0].box: box '50.0,50.0,10.0,10.0' is reversed"),
    ("prompts NaN in box", ["{clip}", "--prompts", "{file:p_box_nan}"],
     "objects[0].box = [nan, 1, 30, 30]: must be a list of 4 numbers"),
    ("prompts overflowing number", ["{clip}", "--prompts", "{file:p_box_huge}"],
     "objects[0].box = [inf, 1, 30, 30]: must be a list of 4 numbers"),
    ("prompts points as text", ["{clip}", "--prompts", "{file:p_points_text}"],
     "objects[0].points = '12,20': must be a list of [x, y] pairs"),
    ("prompts neg point of 3", ["{clip}", "--prompts", "{file:p_neg_triple}"],
     "objects[0].neg_points[0] = [1, 2, 3]: must be a list of 2 numbers"),
    ("prompts neither box nor points", ["{clip}", "--prompts", "{file:p_nothing}"],
     "objects[0]: needs a 'box' or at least one of 'points'"),
    ("prompts point outside", ["{clip}", "--prompts", "{file:p_point_outside}"],
     "point 400,10 of object 1 is outside the 320x240 frame"),
]


def fill(text: str, files: dict[str, Path]) -> str:
    text = text.replace("{clip}", str(CLIP)).replace("{dir}", str(files["dir"]))
    for name, path in files.items():
        text = text.replace(f"{{file:{name}}}", str(path))
    return text


def run_track(args: list[str], out: Path) -> int:
    extra = [] if "--model" in args or "--checkpoint" in args else ["--model", "grabcut"]
    extra += [] if "-o" in args else ["-o", str(out)]
    return main(["track", *args, "--quiet", *extra])


@pytest.mark.parametrize(("args", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(files, tmp_path, capsys, args, message):
    args = [fill(a, files) for a in args]
    assert run_track(args, tmp_path / "out") == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert fill(message, files) in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before anything was written
    assert not (files["dir"] / MARKER).exists()  # no pickled code ever ran


def test_checkpoint_of_another_architecture(tiny_sam_checkpoint, tmp_path, capsys):
    assert run_track([str(CLIP), "--box", "1,1,50,50", "--model", "vit_b", "--checkpoint",
                      str(tiny_sam_checkpoint)], tmp_path / "o") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not vit_b" in err and "Traceback" not in err


def test_unknown_device_with_a_good_checkpoint(tiny_sam_checkpoint, tmp_path, capsys):
    assert run_track([str(CLIP), "--box", "1,1,50,50", "--checkpoint", str(tiny_sam_checkpoint),
                      "--device", "tpu"], tmp_path / "o") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "device 'tpu' is not one of auto, cpu" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_source_and_unwritable_output(tmp_path, capsys):
    locked = tmp_path / "locked.mp4"
    locked.write_bytes(CLIP.read_bytes())
    locked.chmod(0)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert run_track([str(locked), "--box", "1,1,50,50"], tmp_path / "o") == 2
        assert "locked.mp4" in capsys.readouterr().err
        assert run_track([str(CLIP), "--box", "1,1,50,50", "-o", str(ro / "o")], ro) == 2
        assert "is not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o600)
        ro.chmod(0o700)


def test_box_partly_outside_is_clipped_and_said(tmp_path, capsys):
    assert run_track([str(CLIP), "--box", "-10,120,60,300", "--export", "jsonl",
                      "--max-frames", "2"], tmp_path / "o") == 0
    err = capsys.readouterr().err
    assert "box -10,120,60,300 of object 1 was clipped to the 320x240 frame: 0,120,60,240" in err
    run_json = json.loads((tmp_path / "o" / "run.json").read_text())
    assert any("was clipped" in n for n in run_json["notes"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{file:text.mp4}", "--box", "1,1,50,50"], "is not a readable video"),
        (["{clip}", "--box", "1,1,50,50", "--checkpoint", "{file:ck_evil_zip.pth}"],
         "was refused: it holds pickled code"),
    ],
    ids=["not a video", "malicious checkpoint"],
)
def test_real_process_prints_no_traceback(files, tmp_path, args, message):
    """The installed entry point, as a user runs it: exit 2, one line, no traceback, and
    the pickled code in the checkpoint never ran."""
    cmd = [sys.executable, "-m", "samvideo.cli", "track", *[fill(a, files) for a in args],
           "-o", str(tmp_path / "o")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SAMVIDEO_HOME": str(tmp_path / "cache")})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (files["dir"] / MARKER).exists()
