"""Loads the BLAS that Numba's ``np.dot`` calls (SciPy's ``cython_blas``) without importing the rest of scipy.linalg.

Numba finds its BLAS in ``scipy.linalg.cython_blas``. Importing that module the ordinary way
first runs ``scipy/linalg/__init__.py``, which pulls in most of scipy.linalg and, through SciPy's
array-API layer, numpy.f2py: about 0.1 s of every program's start-up, for nothing the kernels use.
The extension module itself needs none of it, so :func:`load_blas` loads it from its file under
its own name; a later ``import scipy.linalg`` finds it there and goes on as usual.
"""
import importlib.machinery
import importlib.util
import os
import sys

MODULE = "scipy.linalg.cython_blas"


def load_blas():
    """Load ``scipy.linalg.cython_blas`` (once) and return it; where SciPy is laid out otherwise, by an
    ordinary import."""
    module = sys.modules.get(MODULE)
    if module is not None:
        return module
    path = _extension_path()
    if path is not None:
        spec = importlib.util.spec_from_file_location(MODULE, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[MODULE] = module
        try:
            spec.loader.exec_module(module)
            return module
        except Exception:  # not loadable on its own: let the ordinary import try (and report)
            del sys.modules[MODULE]
    return importlib.import_module(MODULE)


def _extension_path():
    """The file of SciPy's ``linalg/cython_blas`` extension module, or None."""
    scipy = importlib.util.find_spec("scipy")
    if scipy is None or not scipy.submodule_search_locations:
        return None
    for folder in scipy.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "linalg", "cython_blas" + suffix)
            if os.path.isfile(path):
                return path
    return None
