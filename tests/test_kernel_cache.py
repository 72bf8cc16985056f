"""Numba's on-disk cache is keyed on the kernel options too: a changed option never runs stale machine code."""
import os
import subprocess
import sys

SCRIPT = """
import numpy as np
from clstmtools.kernels import decode
rows = np.zeros((4, 3), np.float32)
rows[2, 1] = 1
try:
    print(decode.row_argmax(rows[:2], 2))  # one row past the view: bounds checking must catch it
except IndexError:
    print("IndexError")
"""


def run(cache, **environ):
    env = {name: value for name, value in os.environ.items() if name != "NUMBA_BOUNDSCHECK"}
    env.update(NUMBA_CACHE_DIR=str(cache), **environ)
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def test_bounds_checking_is_not_served_from_a_cache_compiled_without_it(tmp_path):
    assert run(tmp_path) == "1"  # compiled without bounds checks and cached
    assert run(tmp_path, NUMBA_BOUNDSCHECK="1") == "IndexError"
    assert run(tmp_path) == "1"  # both versions stay cached side by side
