"""Reading a checkpoint file into a state dict, for any torch backend.

Family-neutral: a bare state dict or one held under ``"model"`` or ``"state_dict"``, any
keys; each backend's loader checks the keys and shapes against its model.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint's state dict with ``torch.load(weights_only=True)`` on the CPU.

    Accepts a bare state dict or a dict holding it under ``"model"`` or ``"state_dict"``.

    Raises:
        ValueError: one line naming the file and what is wrong with it: missing, empty,
            not a PyTorch checkpoint, holding pickled code, truncated or corrupt, or holding
            no state dict.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"checkpoint {path} does not exist")
    if path.is_dir():
        raise ValueError(f"checkpoint {path} is a directory, not a checkpoint file")
    if path.stat().st_size == 0:
        raise ValueError(f"checkpoint {path} is empty (0 bytes)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for bad files
        raise ValueError(_load_error(path, exc)) from None
    state = data
    if isinstance(data, dict):
        for key in ("model", "state_dict"):
            if isinstance(data.get(key), dict):
                state = data[key]
                break
    if not isinstance(state, dict) or not state:
        raise ValueError(f"checkpoint {path} is a PyTorch file but holds no state dict")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"checkpoint {path} is not a state dict: entry {bad[0]!r} is not a tensor")
    return state


def _load_error(path: Path, exc: Exception) -> str:
    """The one-line message for a file that ``torch.load(weights_only=True)`` rejected."""
    text = str(exc)
    if "Unsupported global" in text or "not an allowed global" in text:
        return (
            f"checkpoint {path} was refused: it holds pickled code, not only tensors "
            "(torch.load weights_only=True)"
        )
    with path.open("rb") as f:
        magic = f.read(4)
    if magic == b"PK\x03\x04":
        if not zipfile.is_zipfile(path):
            return f"checkpoint {path} is truncated or corrupt (its zip directory is missing)"
        try:
            with zipfile.ZipFile(path) as archive:
                broken = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as zexc:
            return f"checkpoint {path} is truncated or corrupt ({zexc})"
        if broken is not None:
            return f"checkpoint {path} is truncated or corrupt (bad member {broken})"
    reason = text.splitlines()[0] if text else type(exc).__name__
    return f"checkpoint {path} is not a PyTorch checkpoint ({reason[:120]})"


def check_state_keys(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor],
                     source: str, model: str) -> None:
    """Raise one ValueError where ``state`` does not fit a model's ``expected`` state dict
    key for key: the first few missing, unexpected and wrong-shaped keys, named.

    Args:
        expected: the model's own ``state_dict()`` (shapes only are compared).
        state: the checkpoint's tensors.
        source: what to call the file (``"checkpoint PATH"``).
        model: what to call the model (``"SAM vit_b"``, ``"MobileSAM vit_t"``).
    """
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    problems = []
    for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if keys:
            more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
            problems.append(f"{what}: {', '.join(keys[:3])}{more}")
    if problems:
        raise ValueError(f"{source} does not fit {model}: {'; '.join(problems)}")
