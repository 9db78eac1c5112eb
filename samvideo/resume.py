"""``--resume``: saving and loading a run's state as JSON plus NPZ (never pickle), and
checking that an interrupted run is the same job as the one that continues it.

A state is saved when a run stops cleanly and at every checkpoint while it runs (then
with each sink's checkpoint data, so that the outputs of a killed run can be cut back
to it). The state itself says how far it goes (``last_frame``, ``frames_done``):
``run.json`` may lag behind it by one checkpoint when the process is killed.

A state is a nest of dicts, lists, tuples, strings, numbers, booleans, None and numpy
arrays (what ``Tracker.state_dict()`` returns). The structure goes to ``state.json``;
every array goes to ``state.npz`` under a generated name, referred to from the JSON.
Loading uses ``allow_pickle=False``, so a state file can hold data, never code.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from samvideo.record import short_json

#: the hidden folder of an output folder that holds an interrupted run's state
STATE_DIR = ".resume"
_ARRAY, _TUPLE, _DICT = "__ndarray__", "__tuple__", "__dict__"


def _encode(value: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    """JSON-ready form of ``value``; arrays are moved into ``arrays``."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError(f"state {where}: object arrays cannot be saved without pickle")
        name = f"a{len(arrays)}"
        arrays[name] = value
        return {_ARRAY: name}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, int | float):
        return value
    if isinstance(value, tuple):
        return {_TUPLE: [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and not {_ARRAY, _TUPLE, _DICT} & set(value):
            return {k: _encode(v, arrays, f"{where}.{k}") for k, v in value.items()}
        return {_DICT: [[_encode(k, arrays, f"{where} key"), _encode(v, arrays, f"{where}[{k!r}]")]
                        for k, v in value.items()]}
    raise TypeError(f"state {where}: a {type(value).__name__} cannot be saved as JSON + NPZ")


def _decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {_ARRAY}:
        return arrays[value[_ARRAY]]
    if set(value) == {_TUPLE}:
        return tuple(_decode(v, arrays) for v in value[_TUPLE])
    if set(value) == {_DICT}:
        return {_hashable(_decode(k, arrays)): _decode(v, arrays) for k, v in value[_DICT]}
    return {k: _decode(v, arrays) for k, v in value.items()}


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def save_state(state: dict, folder: str | Path) -> Path:
    """Write ``state`` into ``folder`` (``state.json`` + ``state.npz``), atomically: the
    files are written in a temporary folder that replaces ``folder`` when whole; the
    state it replaces is kept as ``<folder>.old`` until then, so a process killed at any
    moment leaves a whole state behind (:func:`load_state` falls back on it)."""
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name.lstrip('.')}.state.part")
    old = _old(folder)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    arrays: dict[str, np.ndarray] = {}
    text = json.dumps(_encode(state, arrays, "state"), indent=1, allow_nan=True)
    with (tmp / "state.npz").open("wb") as f:
        np.savez_compressed(f, **arrays)
    (tmp / "state.json").write_text(text + "\n", encoding="utf-8")
    if folder.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def _old(folder: Path) -> Path:
    return folder.with_name(f"{folder.name}.old")


def remove_state(folder: str | Path) -> None:
    """Delete a saved state (and the one it replaced, if a save was cut short)."""
    folder = Path(folder)
    for path in (folder, _old(folder), folder.with_name(f".{folder.name.lstrip('.')}.state.part")):
        shutil.rmtree(path, ignore_errors=True)


def has_state(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / "state.json").is_file() or (_old(folder) / "state.json").is_file()


def load_state(folder: str | Path) -> dict:
    """Read what :func:`save_state` wrote (or the state it was replacing when the
    process was killed); ValueError naming the folder when it is missing or damaged."""
    folder = Path(folder)
    if not (folder / "state.json").is_file() and (_old(folder) / "state.json").is_file():
        folder = _old(folder)
    try:
        data = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        with np.load(folder / "state.npz", allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        return _decode(data, arrays)
    except FileNotFoundError as exc:
        raise ValueError(f"saved state {str(folder)!r} is missing {Path(exc.filename).name}"
                         ) from None
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise ValueError(f"saved state {str(folder)!r} is damaged: {exc}") from None


@dataclass
class Previous:
    """What an interrupted (or killed) run left for ``--resume``."""

    last_frame: int  # source index of the last frame done
    frames: int  # frames done
    tracker_state: dict  # ``Tracker.state_dict()`` after that frame
    skipped: list[dict]  # the source frames it could not decode (``Skipped`` as dicts)
    sinks: dict | None = None  # each sink's checkpoint data: the run was killed, and its
    # temporary files are to be cut back to the checkpoint (None: it stopped cleanly)
    run_s: float = 0.0  # seconds its processes took together, up to ``last_frame``
    killed: bool = False  # run.json still said running: the process died


def check_resumable(out: Path) -> dict:
    """The ``run.json`` of a run in ``out`` that ``--resume`` can continue: interrupted,
    or killed after a checkpoint. ValueError says why not (no run there, complete, still
    going, nothing saved), before anything costly is done."""
    out = Path(out)
    run_json = out / "run.json"
    if not run_json.is_file():
        raise ValueError(f"--resume: {str(out)!r} holds no run.json: nothing to resume")
    try:
        data = json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"--resume: {str(run_json)!r} is not readable JSON: {exc}") from None
    status = data.get("status")
    if status == "complete":
        raise ValueError(f"--resume: the run in {str(out)!r} is complete: nothing to resume")
    killed = status == "running"
    if killed and _still_running(data.get("process") or {}):
        raise ValueError(f"--resume: the run in {str(out)!r} is still going (process "
                         f"{data['process']['pid']}): stop it first")
    if not has_state(out / STATE_DIR) or (not killed and not data.get("resumable")):
        why = ("was killed before its first checkpoint" if killed
               else f"({status}) saved no state to continue from")
        raise ValueError(f"--resume: the run in {str(out)!r} {why}: start again with "
                         "--overwrite")
    return data


def load_previous(out: Path, key: dict) -> Previous:
    """Check that ``out`` holds an interrupted or killed run with the same ``key`` (what
    must not change between a run and its ``--resume``); ValueError names what differs,
    or why there is nothing to resume (:func:`check_resumable`)."""
    out = Path(out)
    data = check_resumable(out)
    old = data.get("resume_key") or {}
    for name, value in key.items():
        if old.get(name) != value:
            raise ValueError(f"--resume: {name} differs from the interrupted run's "
                             f"({short_json(old.get(name))} there, {short_json(value)} now)")
    state_dir = out / STATE_DIR
    state = load_state(state_dir)
    last = state.get("last_frame", data.get("last_frame"))
    if last is None:
        raise ValueError(f"--resume: the saved state in {str(state_dir)!r} names no frame")
    return Previous(int(last), int(state.get("frames_done", data.get("frames_done")) or 0),
                    state.get("tracker", {}),
                    list(state.get("skipped", data.get("skipped")) or []),
                    state.get("sinks"), float(state.get("run_s") or 0.0),
                    data.get("status") == "running")


def _still_running(process: dict) -> bool:
    """Whether the process run.json names (pid and host) is alive on this machine."""
    pid, host = process.get("pid"), process.get("host")
    if not isinstance(pid, int) or host != socket.gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    try:  # a killed child its parent has not reaped yet is a zombie: dead
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]
