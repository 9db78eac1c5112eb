"""Settings by name: ``--set SECTION.NAME=VALUE`` and ``--config FILE.json`` reach every
config dataclass (the tracker with its nested parts, GrabCut), are recorded in
``run.json`` and are part of what ``--resume`` checks."""

from __future__ import annotations

import json

import pytest

from samvideo import settings
from samvideo.cli import main
from samvideo.motion import KalmanConfig, StillConfig
from samvideo.segmenters import GrabCutConfig
from samvideo.tracker import TrackerConfig
from tests.helpers import SAMPLES

CLIP = SAMPLES / "moving"


def build(*assignments: str) -> dict:
    return settings.build(dict(settings.parse_assignment(a) for a in assignments))


def test_names_reach_nested_settings_and_values_are_json():
    configs = build("tracker.lost_after=8", "tracker.kalman.velocity_std=0.03",
                    "tracker.still=null", "grabcut.max_side=400", "grabcut.colour=first",
                    "tracker.reprompt=false")
    tracker, grabcut = configs["tracker"], configs["grabcut"]
    assert tracker.lost_after == 8 and tracker.reprompt is False and tracker.still is None
    assert tracker.kalman == KalmanConfig(velocity_std=0.03)
    assert grabcut == GrabCutConfig(max_side=400, colour="first")
    assert TrackerConfig().still == StillConfig()  # the defaults stay untouched


def test_a_switched_off_part_comes_back_with_its_defaults_or_an_object():
    assert build("tracker.still=null", "tracker.still.below=0.4")["tracker"].still == \
        StillConfig(below=0.4)
    assert build('tracker.flow={"max_side": 160}')["tracker"].flow.max_side == 160


@pytest.mark.parametrize(("assignment", "message"), [
    ("tracker.nothing=1", "unknown setting 'tracker.nothing'"),
    ("camera.fps=3", "unknown setting 'camera.fps'"),
    ("tracker.lost_after=0", "lost_after=0 must be at least 1"),
    ('tracker.lost_after="many"', "tracker.lost_after=\"many\": expected int"),
    ("tracker.reprompt_below=2", "reprompt_below=2.0 must be within"),
    ("tracker.kalman=null", "cannot be switched off"),
    ("grabcut.colour=last", "colour='last'"),
    ("lost_after", "give SECTION.NAME=VALUE"),
])
def test_bad_settings_are_one_clear_error(assignment, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")) as err:
        build(assignment)
    assert "\n" not in str(err.value)


def test_the_command_records_and_resumes_with_the_settings(tmp_path, capsys):
    config = tmp_path / "settings.json"
    config.write_text(json.dumps({"tracker": {"kalman": {"velocity_std": 0.03}},
                                  "grabcut": {"max_side": 200}}))
    out = tmp_path / "out"
    args = ["track", str(CLIP / "video.mp4"), "--prompts", str(CLIP / "prompts.json"),
            "--model", "grabcut", "--export", "jsonl", "--quiet", "-o", str(out),
            "--config", str(config), "--set", "tracker.lost_after=7", "--max-frames", "4"]
    assert main(args) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["model"]["config"]["max_side"] == 200
    assert run["tracker"]["lost_after"] == 7
    assert run["tracker"]["kalman"]["velocity_std"] == 0.03
    assert run["tracker"]["still"]["below"] == StillConfig().below
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    capsys.readouterr()
    assert main([*args[:-6], "--config", str(bad), "--overwrite"]) == 2
    assert "expected an object of sections" in capsys.readouterr().err


def test_resume_refuses_other_grabcut_settings(tmp_path, capsys):
    from samvideo.prompts import load_prompts_file
    from samvideo.run import FileOptions, Run
    from samvideo.segmenters import GrabCutSegmenter

    out = tmp_path / "out"
    prompts = load_prompts_file(CLIP / "prompts.json")
    with Run(CLIP / "video.mp4", prompts, GrabCutSegmenter(),
             FileOptions(out, exports=("jsonl",))) as tracking:
        for result in tracking:
            if result.frame_index == 3:
                break
    assert tracking.summary.status == "interrupted" and tracking.summary.resumable
    with pytest.raises(ValueError, match="model_info differs"):
        Run(CLIP / "video.mp4", prompts, GrabCutSegmenter(GrabCutConfig(max_side=200)),
            FileOptions(out, exports=("jsonl",), resume=True))
