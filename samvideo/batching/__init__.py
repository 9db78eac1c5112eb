"""Many clips, one command: ``samvideo batch`` and ``samvideo.batch()``.

A manifest (:mod:`~samvideo.batching.manifest`) lists the clips; every row is checked
before any work starts. One clip is one task (the tracker is sequential inside a clip,
clips are independent), run by the ``local`` engine (a process pool on this machine,
:mod:`~samvideo.batching.local_engine`) or the ``ray`` engine (Ray tasks on a cluster,
:mod:`~samvideo.batching.ray_engine`). Each worker builds the model once and runs
:func:`~samvideo.batching.clip.run_clip` for each clip it is given; the driver
(:mod:`~samvideo.batching.driver`) retries what fails and keeps only each clip's
outcome; :mod:`~samvideo.batching.report` writes ``batch.json`` and the table.
Running the same batch again skips the clips that are complete for the same inputs
and resumes the interrupted ones.
"""

from __future__ import annotations

ENGINES = ("local", "ray")
#: what ``--dataset-export`` can write over all clips
DATASET_EXPORTS = ("youtube-vis",)

#: the names this package exports, and the module each lives in (loaded on first use:
#: the command line reads ENGINES without loading the tracker)
_LAZY = {"run_batch": "runner", "read_manifest": "runner", "make_engine": "runner",
         "BatchOptions": "options", "ModelSpec": "options", "BatchProgress": "driver",
         "BatchReport": "report", "ClipRecord": "report", "Manifest": "manifest",
         "Clip": "manifest", "BadRow": "manifest"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"samvideo.batching.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'samvideo.batching' has no attribute {name!r}")


__all__ = ["DATASET_EXPORTS", "ENGINES", *_LAZY]
