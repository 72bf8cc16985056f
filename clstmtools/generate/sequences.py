"""clstm's sequence tasks (threshold, mod, anbn, timing, detect, delay, ...) as clstmseq HDF5 files."""
import os
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..datasets import write_seq_h5
from .common import GenerateError, smooth_along_axis, stream

#: pulse probability of imod and the delay tasks
PULSE_PROBABILITY = 0.2
#: sigma (in steps) of the smoothing that turns noise into pulses (smod, detect)
PULSE_SMOOTHING = 0.5
#: spike-train intervals of the timing tasks: mean, standard deviation, minimum (steps)
SPIKE_MEAN, SPIKE_SD, SPIKE_MIN = 5.0, 2.5, 1
#: a spike is "isolated" for the timing tasks when its gap exceeds this many steps
TIMING_GAP = 5

def local_maxima(values):
    """True where a value exceeds both neighbours along axis 1.

    Unlike the original (``numpy.roll``), the sequence does not wrap around: a missing
    neighbour at either end counts as lower, so an end step can be a maximum."""
    lower = np.full_like(values[:, :1], -np.inf)
    before = np.concatenate([lower, values[:, :-1]], axis=1)
    after = np.concatenate([values[:, 1:], lower], axis=1)
    return (values > before) & (values > after)


def smoothed_pulses(rng, shape):
    """Pulses at the local maxima (along time, axis 1) of lightly smoothed uniform noise."""
    return local_maxima(smooth_along_axis(rng.random(shape), PULSE_SMOOTHING, axis=1))


def as_target(flags):
    """A (count, T) boolean array as float32 targets (count, T, 1)."""
    return flags.astype(np.float32)[:, :, None]


def copied_to_features(flags, depth):
    """A (count, T) pulse array copied to every one of ``depth`` features."""
    return np.repeat(flags.astype(np.float32)[:, :, None], depth, axis=2)


def make_threshold(rng, count, length, depth):
    inputs = rng.random((count, length, depth), dtype=np.float32)
    return inputs, as_target(inputs.sum(axis=2, dtype=np.float64) > 0.5 * depth)


def beat(count, length, period):
    return np.broadcast_to(np.arange(length) % period == 0, (count, length))


def make_mod(rng, count, length, depth, period):
    inputs = rng.random((count, length, depth), dtype=np.float32)
    return inputs, as_target(beat(count, length, period))


def make_dmod(rng, count, length, depth, period):
    inputs = rng.random((count, length, depth), dtype=np.float32)
    inputs[:, :, 0] = 0
    inputs[:, 0, 0] = 1
    return inputs, as_target(beat(count, length, period))


def counted_pulses(pulses, period):
    """The pulses whose running count is 1 more than a multiple of ``period``."""
    return pulses & (np.cumsum(pulses, axis=1) % period == 1)


def make_imod(rng, count, length, depth, period):
    pulses = rng.random((count, length)) < PULSE_PROBABILITY
    return copied_to_features(pulses, depth), as_target(counted_pulses(pulses, period))


def make_smod(rng, count, length, depth, period):
    pulses = smoothed_pulses(rng, (count, length))
    return copied_to_features(pulses, depth), as_target(counted_pulses(pulses, period))


def make_anbn(rng, count, length, depth):
    if length < 3:
        raise GenerateError(f"anbn needs sequences of at least 3 steps, got --length {length}")
    run = rng.integers(1, length // 3 + 1, size=count)
    steps = np.arange(length)
    return copied_to_features(steps < run[:, None], depth), as_target(steps == 2 * run[:, None])


def spike_train(rng, count, length):
    """Spikes at jittered integer intervals starting at step 0, and each spike's gaps.

    Returns ``(spikes, gap_before, gap_after)``, all ``(count, length)``; the gaps are
    meaningful at spikes only, and a spike with no neighbour on a side (within the
    sequence) has gap ``length + 1`` on that side, farther than any real one."""
    intervals = np.rint(SPIKE_MEAN + SPIKE_SD * rng.standard_normal((count, length)))
    intervals = np.maximum(SPIKE_MIN, intervals).astype(np.int64)
    # ``length`` intervals always reach past the end, since each is at least one step
    positions = np.concatenate([np.zeros((count, 1), np.int64), np.cumsum(intervals, axis=1)], axis=1)
    inside = positions < length
    far = length + 1
    before = np.concatenate([np.full((count, 1), far), intervals], axis=1)
    after = np.where(inside[:, 1:], intervals, far)
    rows, slots = np.nonzero(inside)
    steps = positions[rows, slots]
    spikes = np.zeros((count, length), bool)
    gap_before = np.zeros((count, length), np.int64)
    gap_after = np.zeros((count, length), np.int64)
    spikes[rows, steps] = True
    gap_before[rows, steps] = before[rows, slots]
    gap_after[rows, steps] = after[rows, slots]
    return spikes, gap_before, gap_after


def make_timing(rng, count, length, depth, direction):
    spikes, gap_before, gap_after = spike_train(rng, count, length)
    if direction == "forward":
        marked = gap_before > TIMING_GAP
    elif direction == "reverse":
        marked = gap_after > TIMING_GAP
    else:
        marked = (gap_before >= TIMING_GAP) & (gap_after >= TIMING_GAP)
    return copied_to_features(spikes, depth), as_target(spikes & marked)


def detect_channel1_after_channel0(pulses):
    """1 where channel 1 fires alone, channel 0 fired alone before it, and nothing else since.

    ``pulses``: (count, T, 2) booleans. A step where both channels fire disarms the detector;
    a lone channel-0 pulse (re)arms it; a lone channel-1 pulse fires it when armed."""
    count, length, _ = pulses.shape
    fired = np.zeros((count, length), bool)
    armed = np.zeros(count, bool)
    for t in range(length):
        first, second = pulses[:, t, 0], pulses[:, t, 1]
        fired[:, t] = armed & second & ~first
        armed = (first & ~second) | (armed & ~first & ~second)
    return fired


def make_detect(rng, count, length, depth, direction):
    pulses = smoothed_pulses(rng, (count, length, 2))
    forward = detect_channel1_after_channel0(pulses)
    if direction == "forward":
        return pulses.astype(np.float32), as_target(forward)
    if direction == "reverse":
        return pulses[:, ::-1].astype(np.float32), as_target(forward[:, ::-1])
    backward = detect_channel1_after_channel0(pulses[:, ::-1])[:, ::-1]
    return pulses.astype(np.float32), as_target(forward & backward)


def make_delay(rng, count, length, depth, shift):
    pulses = rng.random((count, length)) < PULSE_PROBABILITY
    shifted = np.zeros_like(pulses)
    if shift >= 0:
        shifted[:, shift:] = pulses[:, :max(length - shift, 0)]
    else:
        shifted[:, :shift] = pulses[:, -shift:]
    return as_target(pulses), as_target(shifted)


@dataclass(frozen=True)
class SequenceTask:
    """One of the original's sequence tasks: its maker, the maker's parameters, and a fixed
    input depth where the task defines one (None: the ``--depth`` option)."""
    maker: Callable
    params: tuple = ()
    depth: Optional[int] = None
    summary: str = ""

    def make(self, rng, count, length, depth):
        return self.maker(rng, count, length, self.depth or depth, **dict(self.params))


def _tasks():
    tasks = {"threshold": SequenceTask(make_threshold, summary="1 where the row sum exceeds depth/2"),
             "mod3": SequenceTask(make_mod, (("period", 3),), summary="1 at every multiple of 3")}
    for m in (3, 4, 5, 6):
        tasks[f"dmod{m}"] = SequenceTask(make_dmod, (("period", m),),
                                         summary=f"downbeat at step 0; 1 at every multiple of {m}")
    tasks["imod3"] = SequenceTask(make_imod, (("period", 3),), summary="pulses counted mod 3 (random)")
    for m in (3, 4, 5):
        tasks[f"smod{m}"] = SequenceTask(make_smod, (("period", m),),
                                         summary=f"pulses counted mod {m} (smoothed noise)")
    tasks["anbn"] = SequenceTask(make_anbn, summary="l ones, then a spike at step 2l")
    for name, direction in (("timing", "forward"), ("revtiming", "reverse"), ("biditiming", "both")):
        tasks[name] = SequenceTask(make_timing, (("direction", direction),),
                                   summary=f"isolated spikes ({direction})")
    for name, direction in (("detect", "forward"), ("revdetect", "reverse"), ("bididetect", "both")):
        tasks[name] = SequenceTask(make_detect, (("direction", direction),), depth=2,
                                   summary=f"channel 1 after channel 0 ({direction})")
    for d in (1, 2, 3):
        tasks[f"delay{d}"] = SequenceTask(make_delay, (("shift", d),), depth=1,
                                          summary=f"input delayed by {d}")
    for d in (1, 2):
        tasks[f"rdelay{d}"] = SequenceTask(make_delay, (("shift", -d),), depth=1,
                                           summary=f"input advanced by {d}")
    return tasks


#: every sequence task of the original, by name, in the original's order
SEQUENCE_TASKS = _tasks()


def make_sequence_task(name, count, length=29, depth=2, seed=1):
    """``(inputs (count, length, depth), targets (count, length, 1))`` of task ``name``, float32."""
    if name not in SEQUENCE_TASKS:
        raise GenerateError(f"unknown sequence task {name!r}; known: {', '.join(SEQUENCE_TASKS)}")
    if count < 1 or length < 1 or depth < 1:
        raise GenerateError(f"{name}: count, length and depth must be positive, got {count}, {length}, {depth}")
    inputs, targets = SEQUENCE_TASKS[name].make(stream(seed, name), count, length, depth)
    return np.ascontiguousarray(inputs, np.float32), np.ascontiguousarray(targets, np.float32)


def write_sequence_task(name, outdir, count, length=29, depth=2, seed=1):
    """Write task ``name`` to ``outdir/NAME.h5`` (clstmseq layout); returns the path."""
    inputs, targets = make_sequence_task(name, count, length, depth, seed)
    path = os.path.join(outdir, f"{name}.h5")
    write_seq_h5(path, list(inputs), list(targets))
    return path
