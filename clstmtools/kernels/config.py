"""The one place that sets Numba compilation options and the float type for every kernel."""
import numba
import numpy as np

#: dtype of every sequence, weight and buffer
FLOAT = np.float32

#: fast-math flags: reassociation and contraction let LLVM vectorize dot products;
#: no ``nnan``/``ninf`` so that NaN and inf propagate and can be detected.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

#: options shared by every kernel; kernels never set their own
OPTIONS = dict(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", boundscheck=False)


def kernel(fn):
    """Compile ``fn`` as a kernel with the project's options (lazily, cached on disk)."""
    return numba.njit(**OPTIONS)(fn)
