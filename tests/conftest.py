"""Fixtures shared by the whole test suite.

* ``tiny_sam_checkpoint``: a seeded random tiny SAM checkpoint (built from
  ``segment_anything``'s modules by ``tools/make_random_sam.py``; 1024-pixel input,
  64x64 embedding, SAM's real prompt encoder and mask decoder; ~22 MB), made once per
  session. It loads through the real loading path (``load_sam`` / ``--checkpoint``).
* ``mobile_sam_checkpoint`` / ``sam2_checkpoint``: seeded random MobileSAM (``vit_t``,
  ~41 MB) and SAM 2.1 ``hiera_tiny`` (~156 MB) checkpoints, built by each family's own
  code in its official format, made once per session; they have the real models' shapes
  and cost.
* ``make_random_sam``: the ``tools/make_random_sam.py`` module, for tests that need
  another architecture or seed (``save_random_checkpoint(path, arch, seed=...)``).
* ``sample_dir``: the project's ``sample_videos/`` folder.
* ``shared_data``: ``../shared/data`` (DAVIS clips etc.); the test is skipped without it.
* ``ray_address``: a real local Ray cluster (2 CPUs) for the whole session, started on
  first use; its GCS address, for ``samvideo batch --ray-address``.
* ``long_clip``: a 90-frame synthetic clip, long enough to stop or kill a worker on.
* ``track_masks``: ``samvideo track``'s masks of the sample clips and the long clip,
  the reference every batch engine must give.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py`` as a module (``tools/`` is not a package)."""
    module_name = f"samvideo_tools_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "tools" / f"{name}.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import tools/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def make_random_sam() -> ModuleType:
    """The ``tools/make_random_sam.py`` module."""
    return load_tool("make_random_sam")


@pytest.fixture(scope="session")
def tiny_sam_checkpoint(tmp_path_factory: pytest.TempPathFactory, make_random_sam) -> Path:
    """Path of a random tiny SAM checkpoint (arch ``tiny``, seed 0), made once per session."""
    path = tmp_path_factory.mktemp("sam") / "sam_tiny_seed0.pth"
    return make_random_sam.save_random_sam(path, "tiny", seed=0)


@pytest.fixture(scope="session")
def mobile_sam_checkpoint(tmp_path_factory: pytest.TempPathFactory, make_random_sam) -> Path:
    """Path of a random MobileSAM checkpoint (a plain state dict, seed 0), made once."""
    path = tmp_path_factory.mktemp("mobile_sam") / "mobile_sam_seed0.pt"
    return make_random_sam.save_random_checkpoint(path, "mobile_sam", seed=0)


@pytest.fixture(scope="session")
def sam2_checkpoint(tmp_path_factory: pytest.TempPathFactory, make_random_sam) -> Path:
    """Path of a random SAM 2.1 hiera_tiny checkpoint (``{"model": ...}``, seed 0), made once."""
    path = tmp_path_factory.mktemp("sam2") / "sam2.1_hiera_tiny_seed0.pt"
    return make_random_sam.save_random_checkpoint(path, "sam2.1_hiera_tiny", seed=0)


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The project's generated sample clips, ``sample_videos/``."""
    return ROOT / "sample_videos"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` next to the checkout; skips the test when it is absent."""
    path = ROOT.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"{path} is absent (DAVIS clips are used for evaluation only)")
    return path


@pytest.fixture(scope="session")
def ray_address():
    """A local Ray cluster for the session (``ray.init`` here, 2 CPUs): in-process
    batches use it as it is, command-line ones reach it with ``--ray-address``."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no reports from a test run
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=100 * 1024 * 1024, logging_level=logging.ERROR)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory) -> Path:
    """90 frames at 320x240: long enough to stop or kill a worker half-way."""
    from tests.helpers import make_frames, write_clip

    path = tmp_path_factory.mktemp("batch-clip") / "long.mp4"
    return write_clip(path, make_frames(90, velocity=(1.0, 0.5)))


@pytest.fixture(scope="session")
def track_masks(tmp_path_factory, long_clip) -> dict:
    """``samvideo track``'s masks (``{file name: label map}``) per clip name: the sample
    clips and ``long``, with the exports the batch tests ask for."""
    from samvideo.cli import main
    from tests.helpers import LONG_BOX, SAMPLE_CLIPS, SAMPLES, read_masks

    root = tmp_path_factory.mktemp("track-ref")
    runs = {clip: [str(SAMPLES / clip / "video.mp4"), "--prompts",
                   str(SAMPLES / clip / "prompts.json")] for clip in SAMPLE_CLIPS}
    runs["long"] = [str(long_clip), "--box", ",".join(map(str, LONG_BOX))]
    masks = {}
    for name, args in runs.items():
        out = root / name
        assert main(["track", *args, "--model", "grabcut", "-o", str(out), "--export",
                     "video,davis,jsonl", "--quiet"]) == 0
        masks[name] = read_masks(out)
    return masks
