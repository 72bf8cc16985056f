"""Recognition in bulk: a network run over many lines as padded minibatches of lines of similar width, the next lines loading meanwhile.

Every program's tests, validation and evaluation modes go through :func:`network_outputs`
(:func:`clstmtools.tasks.evaluate_lines` for CTC). A
padded minibatch gives each line what it gives alone (padding never changes a result, see
:mod:`clstmtools.network`), so the order in which lines are batched changes nothing but speed:
lines are read up to READ_AHEAD windows ahead on a thread of their own (the first window only one
minibatch, so that the network starts early), sorted by width within the window and cut into
minibatches, which keeps padding small and lets the recurrence reuse each weight row for every
line of the batch while it is in cache.
"""
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from .network import NetworkError

#: lines in one minibatch (the recurrence gains little beyond this, and buffers grow with it)
BATCH_LINES = 16
#: time steps in one minibatch, padding included: bounds the buffers (about 8 kB a step for
#: recognition and 13 kB for training with BIDILSTM-100) whatever the lines' widths
BATCH_STEPS = 6000
#: lines read ahead, then sorted by width and batched together
WINDOW = 64
#: lines in the first window: the network waits for these (reading 64 takes about 0.1 s)
FIRST_WINDOW = BATCH_LINES
#: windows being read (or read and waiting) at a time: the reader keeps a core busy whenever the
#: network leaves one idle (between its threads' work), instead of waiting for a request for the next
READ_AHEAD = 4


def width_batches(widths, batch_lines=BATCH_LINES, batch_steps=BATCH_STEPS):
    """Positions into ``widths`` grouped into minibatches: sorted from the widest down (stable, so
    equal widths keep their order), at most ``batch_lines`` lines and ``batch_steps`` padded steps
    (lines x widest) each, but always at least one line."""
    order = sorted(range(len(widths)), key=lambda k: -widths[k])
    batches, current = [], []
    for k in order:
        if current and (len(current) == batch_lines or (len(current) + 1) * widths[current[0]] > batch_steps):
            batches.append(current)
            current = []
        current.append(k)
    if current:
        batches.append(current)
    return batches


def _load_window(load, indices):
    """``[(x, None), ..., (None, error)]``: the lines of one window up to the first that fails."""
    loaded = []
    for i in indices:
        try:
            loaded.append((load(i), None))
        except Exception as error:  # raised in order, after the lines before it are recognized
            loaded.append((None, error))
            break
    return loaded


def too_short(net, x):
    """Why the ``(T, depth)`` line ``x`` gives ``net`` no output step at all (it is narrower than the
    network's horizontal pooling), or None when it gives at least one."""
    if net.output_length(len(x)) >= 1:
        return None
    need = len(x) + 1
    while net.output_length(need) < 1:
        need += 1
    return (f"{len(x)} input steps are too few for the network's horizontal pooling, which "
            f"needs {need} for one output step")


def network_outputs(net, load, indices, batch_lines=BATCH_LINES, window=WINDOW, skip=None):
    """Yield ``(i, x, outputs)`` for every ``i`` in ``indices``, in their order: ``x = load(i)``,
    a ``(T, depth)`` line, and ``outputs`` (a ``(T', noutput)`` array of its own, ``T' =
    net.output_length(T)``) what ``net`` gives for it. A line too short for any output step is
    not yielded: ``skip(i, reason)`` is told instead (without ``skip``, it is a NetworkError). An
    error raised by ``load`` or ``skip`` reaches the caller after every earlier line."""
    indices = list(indices)
    first = min(window, FIRST_WINDOW)
    windows = [indices[:first]] + [indices[k:k + window] for k in range(first, len(indices), window)]
    if not indices:
        return
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clstm-load")
    pending = deque(reader.submit(_load_window, load, chunk) for chunk in windows[:READ_AHEAD])
    try:
        for w, chunk in enumerate(windows):
            loaded = pending.popleft().result()
            if w + READ_AHEAD < len(windows):
                pending.append(reader.submit(_load_window, load, windows[w + READ_AHEAD]))
            lines = [x for x, error in loaded if error is None]
            short = [too_short(net, x) for x in lines]
            usable = [k for k, reason in enumerate(short) if reason is None]
            outputs = [None] * len(lines)
            for batch in width_batches([len(lines[k]) for k in usable], batch_lines):
                net.inputs.aset_batch([lines[usable[b]] for b in batch])
                net.forward()
                for column, b in enumerate(batch):
                    outputs[usable[b]] = net.outputs.column(column).copy()
            for k, x in enumerate(lines):
                if short[k] is None:
                    yield chunk[k], x, outputs[k]
                elif skip is None:
                    raise NetworkError(f"line {chunk[k]}: {short[k]}")
                else:
                    skip(chunk[k], short[k])
            if len(lines) < len(loaded):
                raise loaded[-1][1]
    finally:  # on an error, or when the caller stops early: no more lines read
        reader.shutdown(wait=True, cancel_futures=True)
