"""Device and precision choice shared by the torch backends.

:func:`resolve_device` turns ``--device`` into a ``torch.device``, :func:`resolve_precision`
turns ``--precision`` into the encoder's compute dtype; :data:`DTYPES` maps the explicit
precision names to their dtypes.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

#: ``--precision`` values the torch backends accept.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: The explicit ``--precision`` names and their dtypes.
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; also ``"cpu"``, ``"cuda"``, ``"cuda:N"``.

    Raises:
        ValueError: an unknown name, or a CUDA device this machine does not have.
    """
    text = str(device).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if not match:
        raise ValueError(f"device {device!r} is not one of auto, cpu, cuda, cuda:N")
    if not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available here")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise ValueError(
            f"device {device!r} does not exist: this machine has "
            f"{torch.cuda.device_count()} CUDA device(s)"
        )
    return torch.device("cuda", index)


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16, AMX, or Arm BF16)."""
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(torch.cpu, probe, None)
        try:
            if fn is not None and fn():
                return True
        except RuntimeError:  # pragma: no cover - probe unavailable in this build
            pass
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:  # pragma: no cover - not Linux
        return False
    flags = set(
        re.findall(r"[\w.]+", " ".join(re.findall(r"^(?:flags|Features)\s*:(.*)$", text, re.M)))
    )
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def cuda_has_native_bf16(device: torch.device) -> bool:
    """True for CUDA GPUs with bf16 tensor cores (compute capability 8.0, Ampere, and up);
    older ones only emulate bf16, slowly."""
    return torch.cuda.get_device_capability(device)[0] >= 8


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """The encoder's compute dtype for ``precision`` on ``device``.

    ``"auto"`` → bf16 on GPUs and CPUs that compute it natively (:func:`cuda_has_native_bf16`,
    :func:`cpu_has_native_bf16`), else fp32. ``"fp16"`` needs CUDA.

    Raises:
        ValueError: an unknown precision, or fp16 / bf16 where the device cannot do it.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    cuda = device.type == "cuda"
    if precision == "auto":
        native = cuda_has_native_bf16(device) if cuda else cpu_has_native_bf16()
        return torch.bfloat16 if native else torch.float32
    if precision == "fp16" and not cuda:
        raise ValueError(f"precision 'fp16' needs a CUDA device, not {device}")
    if precision == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise ValueError(f"precision 'bf16' is not supported by {device}")
    return DTYPES[precision]
