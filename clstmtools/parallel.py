"""Thread control: how many threads run independent sub-networks, and BLAS kept single-threaded."""
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from . import blas

_state = {"threads": None, "pool": None, "blas_limited": False}
#: ``inside`` is true on a thread while it runs one of run_all's functions
_local = threading.local()


def cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def set_threads(n=0):
    """Use ``n`` threads for independent work (0: all cores) and limit BLAS to one thread.

    The two directions of a bidirectional layer run on two threads; every matrix product is
    single-threaded BLAS, so the two levels of parallelism never compete. Results do not depend
    on the thread count: each thread computes exactly what the serial code would."""
    n = int(n) if n and int(n) > 0 else cpu_count()
    if n != _state["threads"]:
        if _state["pool"] is not None:
            _state["pool"].shutdown(wait=True)
        _state["pool"] = ThreadPoolExecutor(max_workers=n - 1) if n > 1 else None
        _state["threads"] = n
    if not _state["blas_limited"]:
        blas.load_blas()  # the BLAS the kernels' np.dot calls: loaded now (without scipy.linalg), limited too
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
        _state["blas_limited"] = True
    return n


def get_threads():
    if _state["threads"] is None:
        set_threads(0)
    return _state["threads"]


def _inside(f):
    _local.inside = True
    try:
        f()
    finally:
        _local.inside = False


def run_side_by_side(functions):
    """``run_all`` for sub-networks that work side by side (the directions of a bidirectional
    layer): inside them, a layer does not deal its own work out to further calls, whatever the
    thread count (the threads are taken, and results must not depend on how many there are)."""
    run_all([partial(_alongside, f) for f in functions])


def _alongside(f):
    previous = getattr(_local, "alongside", False)
    _local.alongside = True
    try:
        f()
    finally:
        _local.alongside = previous


def alongside():
    """True inside a function run by ``run_side_by_side`` (on any thread)."""
    return getattr(_local, "alongside", False)


def concurrent(count):
    """True when ``run_all`` would run ``count`` functions at the same time, each on a thread of its
    own (what functions that wait for each other need)."""
    return get_threads() >= count and not getattr(_local, "inside", False)


def run_all(functions):
    """Call every function (no arguments), spreading them over the threads; the first runs here.

    A call made from inside one of those functions runs its functions one after the other: the
    threads are already busy, and waiting on the pool from a pool thread could deadlock."""
    if get_threads() == 1 or len(functions) < 2 or getattr(_local, "inside", False):
        for f in functions:
            f()
        return
    futures = [_state["pool"].submit(_inside, f) for f in functions[1:]]
    error = None
    try:
        _inside(functions[0])
    except BaseException as e:  # still wait for the others before raising
        error = e
    for fut in futures:
        try:
            fut.result()
        except BaseException as e:
            error = error or e
    if error is not None:
        raise error
