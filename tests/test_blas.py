"""Tests of loading SciPy's BLAS for the kernels without scipy.linalg (a fresh interpreter each)."""
import subprocess
import sys

CHECK = """
import sys
from clstmtools import blas, parallel
module = blas.load_blas()
assert module is sys.modules["scipy.linalg.cython_blas"] and "sgemm" in module.__pyx_capi__
assert "scipy.linalg" not in sys.modules  # the point: none of scipy.linalg's start-up
parallel.set_threads(2)
from threadpoolctl import threadpool_info
assert all(info["num_threads"] == 1 for info in threadpool_info() if info["user_api"] == "blas")
import numpy as np
import numba

def product(a, b):
    return np.dot(a, b)

a = np.arange(6, dtype=np.float32).reshape(2, 3)
assert (numba.njit(product)(a, a.T) == a @ a.T).all()
import scipy.linalg  # later, the ordinary way: works and finds the same module
from scipy.linalg import cython_blas
assert cython_blas is module and scipy.linalg.solve(np.eye(2), np.ones(2)).tolist() == [1.0, 1.0]
print("ok")
"""


def test_blas_loads_alone_and_serves_numba_and_scipy_later():
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
