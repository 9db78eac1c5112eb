"""``--resume``: saving and loading a run's state as JSON plus NPZ (never pickle), and
checking that an interrupted run is the same job as the one that continues it.

A state is a nest of dicts, lists, tuples, strings, numbers, booleans, None and numpy
arrays (what ``Tracker.state_dict()`` returns). The structure goes to ``state.json``;
every array goes to ``state.npz`` under a generated name, referred to from the JSON.
Loading uses ``allow_pickle=False``, so a state file can hold data, never code.
"""

from __future__ import annotations

import json
import os
import shutil
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
    files are written in a temporary folder that replaces ``folder`` when whole."""
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name.lstrip('.')}.state.part")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    arrays: dict[str, np.ndarray] = {}
    text = json.dumps(_encode(state, arrays, "state"), indent=1, allow_nan=True)
    with (tmp / "state.npz").open("wb") as f:
        np.savez_compressed(f, **arrays)
    (tmp / "state.json").write_text(text + "\n", encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder


def load_state(folder: str | Path) -> dict:
    """Read what :func:`save_state` wrote; ValueError naming the folder when it is missing
    or damaged."""
    folder = Path(folder)
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
    """What an interrupted run left for ``--resume``."""

    last_frame: int  # source index of the last frame done
    frames: int  # frames done
    tracker_state: dict  # ``Tracker.state_dict()`` after that frame
    skipped: list[dict]  # the source frames it could not decode (``Skipped`` as dicts)


def load_previous(out: Path, key: dict) -> Previous:
    """Check that ``out`` holds an interrupted run with the same ``key`` (what must not
    change between a run and its ``--resume``); ValueError names what differs."""
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
    if not data.get("resumable") or data.get("last_frame") is None:
        raise ValueError(f"--resume: the run in {str(out)!r} ({status}) cannot be resumed "
                         "(no saved state): start again with --overwrite")
    old = data.get("resume_key") or {}
    for name, value in key.items():
        if old.get(name) != value:
            raise ValueError(f"--resume: {name} differs from the interrupted run's "
                             f"({short_json(old.get(name))} there, {short_json(value)} now)")
    state = load_state(out / STATE_DIR)
    return Previous(int(data["last_frame"]), int(data.get("frames_done") or 0),
                    state.get("tracker", {}), list(data.get("skipped") or []))
