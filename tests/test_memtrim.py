"""``nuonuo.memtrim.release`` gives freed heap back to the OS: on glibc a process that built and
dropped many mid-sized arrays (what opening a large store does) is smaller after it; elsewhere it
does nothing and never fails."""

from __future__ import annotations

import platform
import subprocess
import sys

PROBE = """
import numpy as np, psutil
from nuonuo import memtrim
big = np.ones(16 * 2**20 // 8); del big  # a freed mmap chunk raises glibc's mmap threshold to 16 MB
arrays = [np.ones(2**20 // 8) for _ in range(200)]  # 200 x 1 MB now on the heap
last = arrays[-1]
del arrays  # freed, but below a live chunk: the heap cannot shrink by itself
before = psutil.Process().memory_info().rss
memtrim.release()
after = psutil.Process().memory_info().rss
print(before - after)
"""


def test_release_returns_freed_heap():
    freed = int(subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout)
    if platform.libc_ver()[0] == "glibc":
        assert freed > 100 * 2**20
    else:
        assert freed >= -8 * 2**20  # nothing to trim there: no growth either
