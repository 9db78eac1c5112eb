"""Every checkpoint family through the real path: a random checkpoint built by the
family's own code (``conftest``), loaded through ``--checkpoint`` (its tensors say the
family), tracking a sample clip end to end from the command line, several objects per
encoder pass, and an interrupted run resumed to the same result."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import samvideo.segmenters as segmenters
from samvideo.cli import main
from samvideo.prompts import load_prompts_file
from samvideo.run import FileOptions, run
from samvideo.stop import Stop
from tests.helpers import SAMPLES

CLIP = SAMPLES / "two_objects"
FRAMES = 3

#: fixture of a random checkpoint, the ``--model`` name, the segmenter's ``name``
FAMILIES = {
    "mobile_sam": ("mobile_sam_checkpoint", "mobile_sam", "mobile_sam"),
    "sam2.1": ("sam2_checkpoint", "sam2.1_hiera_tiny", "sam2.1:hiera_tiny"),
    "sam": ("tiny_sam_checkpoint", None, "sam:custom (embed 96, depth 2, heads 2)"),
}


@pytest.fixture(params=list(FAMILIES))
def family(request):
    fixture, model, name = FAMILIES[request.param]
    return request.getfixturevalue(fixture), model, name


def test_track_a_clip_with_each_family_from_the_command_line(family, tmp_path, monkeypatch,
                                                            capsys):
    checkpoint, model, name = family
    encodes: list[int] = []  # frames per encoder call (the encoder runs in its own thread)
    predicts: list[tuple[object, list[int]]] = []  # requests per decoder call, by embedding
    build = segmenters.build_segmenter

    def spy(*args, **options):  # count the encoder's and the decoder's calls
        segmenter = build(*args, **options)
        encode, predict = segmenter.encode, segmenter.predict
        segmenter.encode = lambda frames: (encodes.append(len(frames)), encode(frames))[1]
        def counted(emb, reqs):
            if not predicts or predicts[-1][0] is not emb:
                predicts.append((emb, []))
            predicts[-1][1].append(len(reqs))
            return predict(emb, reqs)

        segmenter.predict = counted
        return segmenter

    monkeypatch.setattr(segmenters, "build_segmenter", spy)
    out = tmp_path / "out"
    code = main(["track", str(CLIP / "video.mp4"), "--prompts", str(CLIP / "prompts.json"),
                 "--checkpoint", str(checkpoint), "--max-frames", str(FRAMES), "-o", str(out),
                 "--export", "video,davis,jsonl"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"holds {name}" in err  # --model auto says what the file turned out to be
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "complete" and record["model"]["name"] == name
    lines = [json.loads(x) for x in (out / "tracks.jsonl").read_text().splitlines()]
    assert len(lines) == 2 * FRAMES and {x["object_id"] for x in lines} == {1, 2}
    assert len(list((out / "masks").glob("*.png"))) == FRAMES
    # both objects of a frame: one encoder pass, one decoder call for both (re-prompts
    # of weak answers may follow)
    assert encodes == [1] * FRAMES
    assert [n[0] for _, n in predicts] == [2] * FRAMES
    if model is not None:  # the name works too, and another family's name is refused
        assert main(["track", str(CLIP / "video.mp4"), "--box", "23,61,73,99", "--model", model,
                     "--checkpoint", str(checkpoint), "--max-frames", "1", "-o",
                     str(tmp_path / "named"), "--quiet", "--export", "jsonl"]) == 0
        other = "vit_b" if model != "vit_b" else "mobile_sam"
        assert main(["track", str(CLIP / "video.mp4"), "--box", "23,61,73,99", "--model", other,
                     "--checkpoint", str(checkpoint), "-o", str(tmp_path / "other"),
                     "--quiet"]) == 2
        line = capsys.readouterr().err.strip()
        assert "\n" not in line and f"is {model} (" in line and f"not {other} (" in line


def test_an_interrupted_run_resumes_to_the_same_result(family, tmp_path):
    checkpoint, _, _ = family
    segmenter, _ = segmenters.load_model("auto", checkpoint=checkpoint, device="cpu")
    prompts = load_prompts_file(CLIP / "prompts.json")
    clip = CLIP / "video.mp4"
    stop = Stop()

    def options(folder, **kw):
        return FileOptions(tmp_path / folder, exports=("jsonl", "davis"), max_frames=4, **kw)

    first = run(clip, prompts, segmenter, options("o"), stop=stop,
                on_frame=lambda res, _: stop.set() if res.frame_index == 1 else None)
    assert first.status == "interrupted" and first.last_frame == 1 and first.resumable
    final = run(clip, prompts, segmenter, options("o", resume=True))
    assert final.status == "complete" and final.frames == 4 and final.resumed_from == 1
    whole = run(clip, prompts, segmenter, options("whole"))
    assert whole.status == "complete"
    assert (tmp_path / "o" / "tracks.jsonl").read_text() == \
        (tmp_path / "whole" / "tracks.jsonl").read_text()
    for png in sorted((tmp_path / "whole" / "masks").glob("*.png")):
        assert np.array_equal(np.asarray(Image.open(png)),
                              np.asarray(Image.open(tmp_path / "o" / "masks" / png.name)))
