"""End to end through the real path: PyAV decode, GrabCut, OpenCV drawing, H.264 out."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from samvideo.cli import main
from samvideo.metrics import evaluate_sequence
from samvideo.video import probe
from tests.helpers import SAMPLES

#: mean J (IoU, first/last frame excluded) measured with the GrabCut backend; the
#: assertions leave a small margin under the measured figures
MEASURED_J = {"moving": 0.960, "two_objects": 0.947}


def track(*args: str) -> int:
    return main(["track", *args, "--quiet"])


@pytest.fixture(scope="module")
def moving_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("moving")
    clip = SAMPLES / "moving"
    code = track(str(clip / "video.mp4"), "--prompts", str(clip / "prompts.json"),
                 "--model", "grabcut", "-o", str(out), "--overwrite",
                 "--export", "video,davis,jsonl")
    assert code == 0
    return out


def test_outputs_follow_the_contract(moving_run):
    out = moving_run
    src = probe(SAMPLES / "moving" / "video.mp4")
    overlay = probe(out / "overlay.mp4")
    assert (overlay.width, overlay.height) == (src.width, src.height)
    assert overlay.frame_count == src.frame_count == 48
    assert overlay.rate == src.rate
    assert overlay.duration_s == pytest.approx(src.duration_s, abs=1e-3)
    pngs = sorted((out / "masks").glob("*.png"))
    assert [p.name for p in pngs[:2]] == ["00000.png", "00001.png"] and len(pngs) == 48
    im = Image.open(pngs[10])
    assert im.mode == "P" and im.getpalette()[3:6] == [128, 0, 0]
    assert set(np.unique(np.asarray(im))) <= {0, 1}
    lines = [json.loads(x) for x in (out / "tracks.jsonl").read_text().splitlines()]
    assert len(lines) == 48
    assert set(lines[0]) >= {"frame", "time", "object_id", "bbox_xyxy", "score", "state"}
    assert lines[0]["state"] == "prompted" and lines[5]["state"] == "tracking"
    assert lines[24]["time"] == pytest.approx(1.0)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and run["frames_done"] == 48
    assert run["model"]["name"] == "grabcut"
    assert not list(out.glob(".*.part"))


@pytest.mark.parametrize("clip", sorted(MEASURED_J))
def test_grabcut_tracks_the_sample_clips(tmp_path, clip):
    folder = SAMPLES / clip
    assert track(str(folder / "video.mp4"), "--prompts", str(folder / "prompts.json"),
                 "--model", "grabcut", "-o", str(tmp_path), "--overwrite",
                 "--export", "davis") == 0
    scores = evaluate_sequence(tmp_path / "masks", folder / "masks")
    mean_j = float(np.mean([s.j_mean for s in scores]))
    assert mean_j >= MEASURED_J[clip] - 0.03, f"{clip}: mean J {mean_j:.3f}"


def test_box_and_points_on_the_command_line(tmp_path):
    prompts = json.loads((SAMPLES / "moving" / "prompts.json").read_text())["objects"][0]
    box = ",".join(str(v) for v in prompts["box"])
    point = ",".join(str(v) for v in prompts["points"][0])
    assert track(str(SAMPLES / "moving" / "video.mp4"), "--box", box, "--point", point,
                 "--model", "grabcut", "-o", str(tmp_path), "--max-frames", "6",
                 "--export", "jsonl") == 0
    lines = (tmp_path / "tracks.jsonl").read_text().splitlines()
    assert len(lines) == 6
    assert json.loads((tmp_path / "run.json").read_text())["inputs"]["prompts"][0]["points"]


def test_model_auto_without_weights_says_it_uses_grabcut(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAMVIDEO_HOME", str(tmp_path / "empty-cache"))
    assert main(["track", str(SAMPLES / "moving" / "video.mp4"), "--box", "35,129,88,171",
                 "-o", str(tmp_path / "out"), "--max-frames", "3", "--export", "jsonl"]) == 0
    assert "GrabCut" in capsys.readouterr().err  # said (not under --quiet: see test_records)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.mp4", "--box", "1,1,5,5"], "does not exist"),
        (["{clip}", "--box", "1,1,5"], "not 4 numbers"),
        (["{clip}", "--box", "5,5,1,1"], "reversed"),
        (["{clip}", "--box", "400,300,500,400"], "outside the 320x240 frame"),
        (["{clip}", "--box", "1,1,50,50", "--point", "999,5"], "outside the 320x240 frame"),
        (["{clip}", "--box", "1,1,50,50", "--model", "vit_q"], "invalid choice"),
        (["{clip}", "--box", "1,1,50,50", "--export", "gif"], "unknown export format 'gif'"),
        (["{clip}"], "no object to track"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    clip = str(SAMPLES / "moving" / "video.mp4")
    args = [a.replace("{clip}", clip) for a in args]
    assert track(*args, "--model" if "--model" not in args else "--quiet",
                 *(["grabcut"] if "--model" not in args else []),
                 "-o", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_existing_output_is_refused_without_overwrite(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    clip = str(SAMPLES / "moving" / "video.mp4")
    assert track(clip, "--box", "35,129,88,171", "--model", "grabcut", "-o", str(tmp_path)) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_console_script_runs(tmp_path):
    exe = [sys.executable, "-m", "samvideo.cli"]
    proc = subprocess.run([*exe, "track", str(SAMPLES / "moving" / "video.mp4"), "--box",
                           "35,129,88,171", "--model", "grabcut", "-o", str(tmp_path / "o"),
                           "--max-frames", "4"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "overlay.mp4" in proc.stdout and "masks" in proc.stdout
    bad = subprocess.run([*exe, "track", "nope.mp4", "--box", "1,1,4,4"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_a_grabcut_run_never_loads_torch(tmp_path):
    # GrabCut is what every user sees first: it needs none of torch, torchvision and the
    # SAM families' code, which were most of its start-up
    script = (
        "import sys\n"
        "from samvideo.cli import main\n"
        f"code = main(['track', {str(SAMPLES / 'moving' / 'video.mp4')!r}, '--box', "
        f"'35,129,88,171', '--model', 'grabcut', '-o', {str(tmp_path / 'o')!r}, "
        "'--max-frames', '4', '--quiet'])\n"
        "heavy = sorted(m for m in ('torch', 'torchvision', 'segment_anything', 'sam2', "
        "'mobile_sam') if m in sys.modules)\n"
        "print(code, heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "0 []"
    assert (tmp_path / "o" / "overlay.mp4").is_file()


def test_tiny_sam_checkpoint_runs_end_to_end(tmp_path, tiny_sam_checkpoint, capsys):
    """A random tiny SAM saved as a checkpoint loads through --checkpoint (the
    architecture read from its tensors) and tracks through the real SAM path."""
    clip = SAMPLES / "moving"
    assert main(["track", str(clip / "video.mp4"), "--prompts", str(clip / "prompts.json"),
                 "--model", "auto", "--checkpoint", str(tiny_sam_checkpoint),
                 "--device", "cpu", "--max-frames", "5", "-o", str(tmp_path),
                 "--export", "video,davis,jsonl"]) == 0
    assert "checkpoint" in capsys.readouterr().err  # says which model "auto" chose
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["status"] == "complete" and run["frames_done"] == 5
    assert run["model"]["name"].startswith("sam:")
    assert len(list((tmp_path / "masks").glob("*.png"))) == 5
    assert probe(tmp_path / "overlay.mp4").frame_count == 5
    lines = [json.loads(x) for x in (tmp_path / "tracks.jsonl").read_text().splitlines()]
    assert [x["frame"] for x in lines] == list(range(5))
    assert all(0.0 <= x["score"] <= 1.0 for x in lines)
