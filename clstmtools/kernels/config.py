"""The one place that sets Numba compilation options and the float type for every kernel."""
import hashlib
import os

import numba
import numpy as np
from numba.core.caching import FunctionCache

#: dtype of every sequence, weight and buffer
FLOAT = np.float32

#: fast-math flags: reassociation and contraction let LLVM vectorize dot products;
#: no ``nnan``/``ninf`` so that NaN and inf propagate and can be detected.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

#: options shared by every kernel; kernels never set their own
OPTIONS = dict(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", boundscheck=False)


def kernel_sources_digest(_digest=[]):
    """A digest of every kernel module's source. Numba stamps a cached kernel with its own file
    only, so a kernel would keep the machine code of a kernel it calls from another module (one
    inlined there) after that module changed."""
    if not _digest:
        directory = os.path.dirname(os.path.abspath(__file__))
        digest = hashlib.sha256()
        for name in sorted(os.listdir(directory)):
            if name.endswith(".py"):
                with open(os.path.join(directory, name), "rb") as source:
                    digest.update(name.encode() + b"\0" + source.read())
        _digest.append(digest.hexdigest())
    return _digest[0]


def cache_salt():
    """What the on-disk cache must also be keyed on: the options above and the environment settings that
    override them (Numba keys its cache on a kernel's bytecode alone, and would load machine code
    compiled under other options), and the kernels' sources (see ``kernel_sources_digest``)."""
    options = {name: sorted(value) if isinstance(value, set) else value for name, value in OPTIONS.items()}
    return repr((sorted(options.items()), numba.config.BOUNDSCHECK, str(numba.config.OPT), kernel_sources_digest()))


class SaltedCache(FunctionCache):
    """Numba's on-disk function cache, with ``cache_salt()`` added to every index key."""

    def _index_key(self, sig, codegen):
        return super()._index_key(sig, codegen) + (cache_salt(),)


def kernel(fn):
    """Compile ``fn`` as a kernel with the project's options (lazily, cached on disk under a key that includes
    the options)."""
    options = {name: value for name, value in OPTIONS.items() if name != "cache"}
    dispatcher = numba.njit(**options)(fn)
    if OPTIONS["cache"]:
        dispatcher._cache = SaltedCache(dispatcher.py_func)
    return dispatcher
