"""Hand memory that a process has freed back to the operating system.

Opening a large store builds big temporaries (LanceDB's Arrow table, a dict per row, the n-gram
index's sort arrays, the IVF's k-means) and frees them. glibc keeps freed heap memory for reuse:
its mmap threshold rises with the sizes it sees freed (up to 32 MB), so after the first large
temporary even big arrays come from the heap and stay resident when freed, and pyarrow's allocator
(mimalloc) keeps its own pages. Measured at 100K memories: RSS 1089 MB after open and a first
recall, 685 MB after ``malloc_trim(0)``, with nothing lost (only free pages are returned).

``release()`` asks both allocators to return what is free: ``malloc_trim(0)`` where the C library
is glibc (elsewhere nothing happens), ``release_unused()`` on pyarrow's default pool if pyarrow is
loaded. It costs milliseconds; callers use it after a large build, not on every call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_trim = None
_looked = False


def _malloc_trim():
    global _trim, _looked
    if not _looked:
        _looked = True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _trim = getattr(libc, "malloc_trim", None)  # glibc only
        except OSError:
            _trim = None
    return _trim


def release() -> None:
    """Return freed heap and Arrow pool memory to the OS (best effort, never raises)."""
    pa = sys.modules.get("pyarrow")
    if pa is not None:
        try:
            pa.default_memory_pool().release_unused()
        except Exception:  # noqa: BLE001 - an older pyarrow without it: nothing to release
            pass
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
