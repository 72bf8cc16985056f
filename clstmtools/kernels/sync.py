"""Counters through which kernel calls that share one recurrence, each on a thread of its own, claim, finish and wait for each other's steps.

A recurrence shared out in parts (each part a call on its own thread) keeps three counters per
part in one int64 array (``counters``): the last step its owner has *claimed* (started, or is
about to), how many steps of it are *done*, and whether another thread has *asked* for the
part. Before a step a call claims its own part's step (an atomic compare-and-swap from the step
before), then waits until every other part has done the previous step (atomic loads with
acquire order; ``done`` is published with release order, so that everything written before it
is visible to the reader).

A thread that loses its core (more threads than free cores) would stall the others at every
step. So a thread that has waited ``SPINS`` rounds for a part asks for it, and takes it over for
the rest of the recurrence as soon as the part's owner is between two steps: the owner sees the
request (or its claim fails) and stops, and the rest of the line runs on one thread, as fast as
one thread is. An owner that has not started at all gets ``SPINS + YIELDS`` rounds (about half a
millisecond) before its part is taken. A part's arithmetic is the same whoever runs it.

Waiting spins with the CPU's pause hint (tens of nanoseconds while the other thread runs), then
yields the core at each round. Parts' counters lie ``STRIDE`` entries apart, a cache line each.
"""
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .config import kernel

#: int64 entries between two parts' counters (64 bytes, twice over for the adjacent-line prefetcher)
STRIDE = 16
#: a part's claim once another thread has taken it over
TAKEN = np.iinfo(np.int64).max
#: waiting rounds with the pause hint (about 25 ns each: 0.1 ms in all, tens of steps' worth, past
#: an interrupt's hiccup but well short of a lost time slice) before a waiting thread asks for a
#: running part, or starts yielding its core
SPINS = 4000
#: further yielding rounds (about 0.5 us each on an idle core) before it takes a part whose owner
#: has not started: past the few tens of microseconds a pool thread takes to start
YIELDS = 1000
#: what ``wait_or_take_over`` returns: the part is done to the step requested; it was taken over
#: before its last step (the caller does that step first); it was taken over after it
WAITED, TAKEN_BEFORE, TAKEN_AFTER = 0, 1, 2


def counters(parts):
    """Fresh counters for ``parts`` parts: nothing claimed (-1), nothing done."""
    array = np.zeros(parts * STRIDE, np.int64)
    array[::STRIDE] = -1
    return array


def _element_pointer(context, builder, array_type, array, index):
    data = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, data, [index])


@intrinsic
def _load_acquire(typingctx, array, index):
    """``array[index]`` read atomically, with acquire order."""
    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(pointer, ordering="acquire", align=8)
    return types.int64(array, index), codegen


@intrinsic
def _store_release(typingctx, array, index, value):
    """``array[index] = value`` written atomically, with release order."""
    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        value = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store_atomic(value, pointer, ordering="release", align=8)
        return context.get_dummy_value()
    return types.void(array, index, value), codegen


@intrinsic
def _compare_and_swap(typingctx, array, index, expected, value):
    """``array[index] = value`` if it holds ``expected`` (atomically); whether it did."""
    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        expected = context.cast(builder, args[2], signature.args[2], types.int64)
        value = context.cast(builder, args[3], signature.args[3], types.int64)
        result = builder.cmpxchg(pointer, expected, value, "acq_rel", "acquire")
        return builder.extract_value(result, 1)
    return types.boolean(array, index, expected, value), codegen


@intrinsic
def _pause(typingctx):
    """The CPU's spin-wait hint (x86 ``pause``; nothing on other machines)."""
    def codegen(context, builder, signature, args):
        if builder.module.triple.startswith(("x86_64", "i686", "i386")):
            void = cgutils.ir.FunctionType(cgutils.ir.VoidType(), [])
            builder.call(cgutils.get_or_insert_function(builder.module, void, "llvm.x86.sse2.pause"), [])
        return context.get_dummy_value()
    return types.void(), codegen


@intrinsic
def _yield_core(typingctx):
    """``sched_yield()``: let another thread have this core."""
    def codegen(context, builder, signature, args):
        int32 = cgutils.ir.FunctionType(cgutils.ir.IntType(32), [])
        builder.call(cgutils.get_or_insert_function(builder.module, int32, "sched_yield"), [])
        return context.get_dummy_value()
    return types.void(), codegen


@kernel
def claim(counters, part, step):
    """Claim step ``step`` of ``part`` for its owner; False when another thread has requested the
    part or taken it over (the owner then stops)."""
    if _load_acquire(counters, part * STRIDE + 2) != 0:
        return False
    return _compare_and_swap(counters, part * STRIDE, step - 1, step)


@kernel
def publish(counters, part, count):
    """Tell the other threads that ``count`` steps of ``part`` are done."""
    _store_release(counters, part * STRIDE + 1, count)


@kernel
def wait_or_take_over(counters, part, count):
    """Wait until ``count`` steps of ``part`` are done (returns ``WAITED``), or take the part over:
    ``TAKEN_BEFORE`` when its owner stopped before step ``count - 1`` (the caller does that step
    first), ``TAKEN_AFTER`` when it stopped after it; the caller then does every later step."""
    claimed, done, asked = part * STRIDE, part * STRIDE + 1, part * STRIDE + 2
    rounds = 0
    while True:
        if _load_acquire(counters, done) >= count:
            if _load_acquire(counters, asked) == 0:
                return WAITED
            # asked: the owner stops before its next claim, unless it made it already
            return TAKEN_AFTER if _compare_and_swap(counters, claimed, count - 1, TAKEN) else WAITED
        rounds += 1
        started = _load_acquire(counters, claimed) >= 0
        if rounds < SPINS:
            _pause()
            continue
        if started or rounds >= SPINS + YIELDS:
            _store_release(counters, asked, 1)
            if _compare_and_swap(counters, claimed, count - 2, TAKEN):
                return TAKEN_BEFORE
        _yield_core()


@kernel
def next_tasks(counters, part, step, mine, task_part, task_step):
    """What a call does before its step ``step``: claims its part's step (``part = -1``: a call
    that runs every part alone), waits for the other parts' previous step, takes over those
    whose threads were lost (marking them in ``mine``), and lists the ``(part, step)`` pairs to
    run now in ``task_part`` and ``task_step`` (each at least twice as long as ``mine``). Returns
    how many, or -1 when this call's part was taken over and the call must stop. The caller runs
    the pairs in order and ``publish``es each."""
    tasks = 0
    if part >= 0:
        if not claim(counters, part, step):
            return -1
        for q in range(mine.size):
            if mine[q] or step == 0:
                continue
            waited = wait_or_take_over(counters, q, step)
            if waited != WAITED:
                mine[q] = True
                if waited == TAKEN_BEFORE:
                    task_part[tasks], task_step[tasks] = q, step - 1
                    tasks += 1
    for q in range(mine.size):
        if mine[q]:
            task_part[tasks], task_step[tasks] = q, step
            tasks += 1
    return tasks


@kernel
def own_parts(parts, part):
    """``mine`` for :func:`next_tasks` at a call's start: every part for ``part = -1``, else its own."""
    mine = np.zeros(parts, np.bool_)
    for q in range(parts):
        mine[q] = part < 0 or q == part
    return mine
