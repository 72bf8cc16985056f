"""Tests of keeping freed memory for reuse (recognition's minibatch buffers), in a fresh interpreter each."""
import subprocess
import sys

import pytest

CHECK = """
import resource, sys
import numpy as np
from clstmtools.memory import keep_freed_memory
if {keep} and not keep_freed_memory():
    print("not glibc"); sys.exit()

def page_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

buffers = [np.ones(n << 20, np.uint8) for n in (48, 40)]  # a minibatch's buffers (past glibc's 32 MB), touched
del buffers
before = page_faults()
for n in (44, 36, 46) * 8:  # the next minibatches' buffers, of other sizes
    buffer = np.ones(n << 20, np.uint8)
    del buffer
print(page_faults() - before)
"""

#: 24 buffers of 36-46 MB: fresh memory faults each page in, 4 kB a time or at least 2 MB (huge pages)
BUFFERS, SMALLEST_MB, HUGE_PAGE_MB = 24, 36, 2


def page_faults(keep):
    """The page faults (fresh pages the kernel hands over) while 24 buffers are allocated, filled and freed:
    a count, the same on a busy machine as on an idle one."""
    done = subprocess.run([sys.executable, "-c", CHECK.format(keep=keep)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_freed_buffers_are_reused_not_taken_fresh_from_the_system():
    kept = page_faults(True)
    if kept == "not glibc":
        pytest.skip("mallopt is glibc's")
    fresh = int(page_faults(False))
    assert fresh >= BUFFERS * (SMALLEST_MB // HUGE_PAGE_MB), fresh  # the check sees fresh memory when it is
    assert int(kept) <= 64, (kept, fresh)  # reused: the pages are there already
