"""Recognition in bulk: a network run over many lines as padded minibatches of lines of similar width, the next lines loading meanwhile.

Every program's tests, validation and evaluation modes go through :func:`network_outputs`
(:func:`clstmtools.tasks.evaluate_lines` for CTC). A
padded minibatch gives each line what it gives alone (padding never changes a result, see
:mod:`clstmtools.network`), so the order in which lines are batched changes nothing but speed:
lines are read a window ahead on a thread of their own, sorted by width within the window and
cut into minibatches, which keeps padding small and lets the recurrence reuse each weight row
for every line of the batch while it is in cache.
"""
from concurrent.futures import ThreadPoolExecutor

#: lines in one minibatch (the recurrence gains little beyond this, and buffers grow with it)
BATCH_LINES = 16
#: time steps in one minibatch, padding included: bounds the buffers (about 8 kB a step for
#: recognition and 13 kB for training with BIDILSTM-100) whatever the lines' widths
BATCH_STEPS = 6000
#: lines read ahead, then sorted by width and batched together
WINDOW = 64


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


def network_outputs(net, load, indices, batch_lines=BATCH_LINES, window=WINDOW):
    """Yield ``(i, x, outputs)`` for every ``i`` in ``indices``, in their order: ``x = load(i)``,
    a ``(T, depth)`` line, and ``outputs`` (a ``(T, noutput)`` array of its own) what ``net`` gives
    for it. An error raised by ``load`` reaches the caller after every earlier line."""
    indices = list(indices)
    windows = [indices[k:k + window] for k in range(0, len(indices), window)]
    if not windows:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="clstm-load") as reader:
        ahead = reader.submit(_load_window, load, windows[0])
        for w, chunk in enumerate(windows):
            loaded = ahead.result()
            if w + 1 < len(windows):
                ahead = reader.submit(_load_window, load, windows[w + 1])
            lines = [x for x, error in loaded if error is None]
            outputs = [None] * len(lines)
            for batch in width_batches([len(x) for x in lines], batch_lines):
                net.inputs.aset_batch([lines[k] for k in batch])
                net.forward()
                for b, k in enumerate(batch):
                    outputs[k] = net.outputs.column(b).copy()
            for k, x in enumerate(lines):
                yield chunk[k], x, outputs[k]
            if len(lines) < len(loaded):
                ahead.cancel()
                raise loaded[-1][1]
