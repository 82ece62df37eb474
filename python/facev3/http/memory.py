"""glibc malloc tuned for a server of large, short-lived bodies.

glibc raises its mmap threshold to the size of each large block freed (up to 32 MiB), so after
the first 20 MB upload every later one comes from the heap arenas of the threads that touched
it, and what they free stays with the worker: a burst of large requests left it hundreds of MB
bigger for good. A fixed threshold keeps large blocks on mmap, handed back on free, and a fixed
trim threshold gives back freed heap tops. No-op where the C library has no mallopt (musl, macOS).

The threshold sits above the usual request's blocks (a 200 x 1,024 rerank is 1.1 MB of base64
or 4.3 MB of floats): a freshly mapped block page-faults on first touch, and at 1 MiB mapping
each rerank body cost its worker 0.7 ms of system time, a fifth of the request. Heap blocks are
reused warm; bodies near FACEV3_MAX_BODY_BYTES still map and go back on free.
"""

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
LARGE_BLOCK_BYTES = 8 << 20  # larger bodies, images and arrays: mapped per request, returned on free
TRIM_BYTES = 4 << 20


def give_back_large_blocks() -> bool:
    """Applies the settings to this process; whether the C library took them."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_BYTES))
