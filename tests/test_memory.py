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

def system_time():
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime

buffers = [np.ones(n << 20, np.uint8) for n in (48, 40)]  # a minibatch's buffers (past glibc's 32 MB), touched
del buffers
before = system_time()
for n in (44, 36, 46) * 8:  # the next minibatches' buffers, of other sizes
    buffer = np.ones(n << 20, np.uint8)
    del buffer
print(system_time() - before)
"""


def system_seconds(keep):
    """The kernel's time (fresh pages: zeroed) over 24 buffers of 36-46 MB, allocated, filled and freed."""
    done = subprocess.run([sys.executable, "-c", CHECK.format(keep=keep)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_freed_buffers_are_reused_not_taken_fresh_from_the_system():
    kept = system_seconds(True)
    if kept == "not glibc":
        pytest.skip("mallopt is glibc's")
    fresh = float(system_seconds(False))  # about 1 GB of fresh pages: 0.08-0.1 s on a 2-core EPYC
    assert float(kept) < fresh / 4, (kept, fresh)
