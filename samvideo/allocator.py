"""Large freed blocks kept for reuse: the C allocator tuned for models on a CPU.

glibc's ``malloc`` hands a freed block larger than its mmap threshold (at most 32 MiB by
default) back to the kernel, and maps a fresh one for the next such request, whose
pages the kernel zeroes again on first touch. A Segment Anything encoder on a CPU
allocates and frees activations of tens of MiB at every layer, every frame: with the
default, MobileSAM's encoder spends about as long in the kernel faulting pages in as it
computes. PyTorch's CPU tuning guide recommends jemalloc or tcmalloc for the same
reason; :func:`keep_freed_memory` gets the effect from glibc itself, without a
preloaded library. The Segment Anything segmenters call it when they run on a CPU.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading

# mallopt(3) parameters
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -2, -3, -8

_MMAP_THRESHOLD = 1 << 30  # blocks up to 1 GiB come from the heap and go back to it
_TRIM_THRESHOLD = 1 << 30  # the heap keeps up to 1 GiB free at its top for the next frame
_TOP_PAD = 64 << 20  # and grows by at least 64 MiB at a time (fewer brk calls)
# one heap for every thread: a thread's own arena is at most 64 MiB, so a large block
# asked for outside the main thread (the encoder runs in the pipeline's thread) would be
# mapped afresh whatever the threshold
_ARENAS = 1

_done: bool | None = None
_lock = threading.Lock()


def keep_freed_memory() -> bool:
    """Tune glibc's ``malloc`` (process-wide, once) so that large freed blocks are
    reused rather than returned to the kernel; returns whether it applies (False where
    the C library is not glibc: macOS, Windows, musl).

    The process then keeps the memory of its largest frame's activations mapped, as
    jemalloc and tcmalloc do. Call it before the threads that allocate start: a thread
    keeps the heap it first allocated from.
    """
    global _done
    with _lock:
        if _done is None:
            _done = _tune()
        return _done


def _tune() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # glibc only: musl's mallopt does nothing  # noqa: B018
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    settings = ((_M_MMAP_THRESHOLD, _MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD),
                (_M_TOP_PAD, _TOP_PAD), (_M_ARENA_MAX, _ARENAS))
    return all([mallopt(param, value) == 1 for param, value in settings])
